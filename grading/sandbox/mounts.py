"""A kernel's private tmpfs, and the grader's runtime folders that hold such mounts.

Whatever a kernel writes lands on a mount of its own, with a size and a file-count quota, which
the grader unmounts without reading or walking it: the kernel can fill no disk, leave no file and
plant no link for the grader. Mounting needs root, or a grader's namespace of its own
(:func:`grader_namespace`).
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import tempfile
from pathlib import Path

from grading.sandbox.limits import Limits, SandboxUnavailable

# The owner of a kernel's socket folder once the kernel is up: a user the kernel is not (inside its
# user namespace the kernel is root's uid, and owns whatever root owns), so it can no longer change
# the folder, having no capabilities.
LOCKED_OWNER = 65533


def grader_namespace() -> list[str]:
    """The command prefix under which a grader without root runs each submission's nbgrader
    process: a user and mount namespace of its own (util-linux ``unshare``), in which it is root
    over nothing but those namespaces and may mount the kernels' private tmpfs. Empty for root."""
    return [] if os.geteuid() == 0 else ["unshare", "--user", "--map-root-user", "--mount", "--"]


class PrivateMount:
    """A kernel's own tmpfs, with a size and a file-count quota: ``work`` (a copy of the
    notebook's folder), ``tmp`` and ``ipc`` (its connection file and sockets).

    Mounted by the grader (root, or root of its own namespaces: :func:`grader_namespace`) and
    unmounted when the kernel ends, so nothing the kernel wrote is ever read or walked by the grader.
    """

    def __init__(self, root: Path):
        self.root = root
        self.work, self.tmp, self.ipc = root / "work", root / "tmp", root / "ipc"

    @classmethod
    def create(cls, limits: Limits, source: Path | None = None, folder: Path | None = None) -> PrivateMount:
        root = Path(tempfile.mkdtemp(prefix="k-", dir=folder or runtime_root()))
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={limits.disk_mb}m,nr_inodes={limits.files},mode=0700",
                        "tmpfs", str(root)], check=True, capture_output=True)
        mount = cls(root)
        for folder in (mount.work, mount.tmp, mount.ipc):
            folder.mkdir()
        if source is not None:
            from grading.staging import copy_folder

            copy_folder(source, mount.work)
        return mount

    def lock_sockets(self) -> None:
        """Make the socket folder unwritable for the kernel (call it once its sockets exist, before
        the grader connects): no notebook can later swap a socket for a link to another socket of
        the machine, which ZeroMQ would follow when it reconnects."""
        try:
            os.chown(self.ipc, LOCKED_OWNER, LOCKED_OWNER)
        except OSError as error:
            # A grader without root has one uid in its namespace (its own): the folder stays the
            # kernel's, which can only rebind its own sockets (README: "The sandbox").
            if error.errno in (errno.EINVAL, errno.EPERM):
                return
            raise
        os.chmod(self.ipc, 0o755)

    def remove(self) -> None:
        if os.path.ismount(self.root):  # outside the grader's own namespace it is an empty folder
            subprocess.run(["umount", "-l", str(self.root)], capture_output=True)
        try:
            self.root.rmdir()
        except OSError:
            pass


def _runtime_path() -> Path:
    uid = os.getuid()
    return Path(tempfile.gettempdir()) / ("grading-kernels" if uid == 0 else f"grading-kernels-{uid}")


def tidy_runtime_root() -> None:
    """Remove the folder of private mounts once nothing is left in it (another grading may still use it)."""
    try:
        _runtime_path().rmdir()
    except OSError:
        pass


def runtime_root() -> Path:
    """Where private mounts go: short (a Unix socket path holds at most 107 bytes), this user's
    only. A name in the shared /tmp that another user made first, or a link, is refused."""
    uid = os.getuid()
    root = _runtime_path()
    try:
        root.mkdir(mode=0o700)
    except FileExistsError:
        pass
    info = os.lstat(root)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != uid or info.st_mode & 0o077:
        raise SandboxUnavailable(f"{root} is not a folder of this user's alone (a link, another user's, or open to "
                                 "others): remove it")
    return root


def mounts_folder() -> Path:
    """A folder for one submission's private mounts (and its watchdog's counters), so that
    :func:`remove_mounts` can find every one of them after its grading process ended, however it ended."""
    return Path(tempfile.mkdtemp(prefix="s-", dir=runtime_root()))


def remove_mounts(folder: Path) -> None:
    """Unmount and remove every private mount in ``folder``, and anything else left there, then the folder."""
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            PrivateMount(entry).remove()
        else:
            entry.unlink()
    folder.rmdir()
