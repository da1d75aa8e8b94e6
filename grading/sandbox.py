"""A sandbox for students' kernels without Docker: bubblewrap, cgroups, a private tmpfs and limits.

:class:`SandboxedKernelManager` starts every kernel of a submission inside

- **bubblewrap** (``bwrap``, Debian's ``bubblewrap`` package): new user, PID, network, IPC and
  UTS namespaces, so the kernel runs as ``nobody`` with no capabilities, sees only its own
  processes, has no network at all (jupyter_client's ``ipc`` transport still works: Unix sockets
  are files) and cannot make namespaces of its own. Its file system is a read-only view of the
  system (``/usr``, Python and the course's virtual environment, the CIFAR-10 archive and cache)
  and its private mount; other students' files, the gradebook, the instructor's ``source/``, the
  grader's own code (the hidden tests) and the graded folders do not exist in there.
- a **private mount** (:class:`PrivateMount`): a tmpfs of its own, with a size and a file-count
  quota, holding a copy of the notebook's folder (where the kernel runs, at the same path), its
  ``/tmp`` and home, and its socket files. The grader never reads anything the kernel wrote there;
  it is unmounted when the kernel ends. So the kernel cannot fill the disk, leave files behind, or
  plant links for the grader to follow. The submitted weights (``trained_models/``) are read-only
  in the copy: a cell that tries to retrain and overwrite them fails, visibly.
- a **cgroup** per submission (cgroup v1 controllers ``memory``, ``pids`` and ``cpu``): a memory
  cap (exceeding it kills the kernel, which is graded as it is), a cap on processes and threads
  (a fork bomb fails to fork), and a CPU share (cores per submission);
- **prlimit** (util-linux): CPU seconds per kernel (so per notebook), the size of any file written.

Kernels start with ``PYTHONSAFEPATH`` and the notebook's folder appended to the end of
``sys.path`` once the kernel runs: a file in a submission cannot stand in for a module the kernel
imports (``numpy.py``, ``ipykernel_launcher.py``), and nothing of the student's runs before the
grader has connected to the kernel's sockets.

The checker (:mod:`grading.checker`), which decides the scores, runs in a sandbox of the same kind
(:func:`checker_command`), with its own cgroup: it never runs a student's code, but it reads what
a student's kernel produced.

Wall-clock budgets per cell and notebook and the output cap belong to the executor
(:mod:`grading.execute`); the budget per submission to :mod:`grading.parallel`.

The grader sets :data:`SANDBOX_ENV` to a JSON :class:`Sandbox` for the nbgrader process of one
submission; without it, kernels start unconfined, as in plain ``nbgrader autograde``.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cifar10_course.training import WEIGHTS_FOLDER
from grading.kernels import IpcKernelManager

SANDBOX_ENV = "GRADING_SANDBOX"
CGROUP_ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("memory", "pids", "cpu")
# What a kernel may read besides Python: the dynamic loader's cache, users and groups (Python
# looks up its user), time zones and fonts (Matplotlib).
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/localtime", "/etc/fonts")
# Environment variables a kernel keeps (bwrap starts from an empty environment).
KEPT_VARIABLES = ("COURSE_MODE", "COURSE_SEED", "CIFAR10_PATH", "CIFAR10_CACHE_DIR", "NBGRADER_EXECUTION",
                  "TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS", "LANG", "LC_ALL")
# The notebook's folder goes last on sys.path, after everything the kernel itself imports.
APPEND_CWD = "--IPKernelApp.exec_lines=['__import__(\"sys\").path.append(__import__(\"os\").getcwd())']"
# The owner of a kernel's socket folder once the kernel is up: a user the kernel is not (inside its
# user namespace the kernel is root's uid, and owns whatever root owns), so it can no longer change
# the folder, having no capabilities.
LOCKED_OWNER = 65533
# Where Keras 3 (3.15) keeps the CIFAR-10 archive it downloads, below $KERAS_HOME/datasets:
# get_file(fname="cifar-10-batches-py-target", extract=True) in keras/src/datasets/cifar10.py.
KERAS_CIFAR10_ARCHIVE = "cifar-10-batches-py-target_archive"


@dataclass
class Limits:
    """What one submission may use. Kernels of a submission run one after the other."""

    memory_mb: int = 6144  # the whole submission's cgroup: kernel, its children, its private mount
    processes: int = 512  # processes and threads (TensorFlow starts dozens of threads)
    cpu_cores: float = 1.0  # CPU share of the submission
    cpu_seconds: int = 900  # CPU time of one kernel, i.e. one notebook
    file_mb: int = 512  # the largest file a kernel may write
    disk_mb: int = 1024  # a kernel's private mount: its copy of the folder, /tmp and home
    files: int = 20_000  # files and folders in a kernel's private mount
    checker_memory_mb: int = 4096  # the checker's own cgroup


@dataclass
class Sandbox:
    """One submission's sandbox: its cgroups, limits and what its kernels may read."""

    cgroup: str  # path below each controller, e.g. "grading/demo_x-1a2b"
    limits: Limits = field(default_factory=Limits)
    read_only: list[str] = field(default_factory=list)  # extra paths to show read-only (the data)
    checker_cgroup: str | None = None
    mounts: str | None = None  # the folder of the submission's private mounts (see mounts_folder)

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls, text: str) -> Sandbox:
        data = json.loads(text)
        return cls(data["cgroup"], Limits(**data["limits"]), data["read_only"], data.get("checker_cgroup"),
                   data.get("mounts"))


def current() -> Sandbox | None:
    """The sandbox this nbgrader process grades in, or None outside one."""
    text = os.environ.get(SANDBOX_ENV)
    return Sandbox.from_env(text) if text else None


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot be set up on this machine; the message says why and what to install."""


def problems() -> list[str]:
    """Why the sandbox cannot run here (empty when it can), each with what to do about it."""
    found = []
    if shutil.which("bwrap") is None:
        found.append("bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)")
    if shutil.which("prlimit") is None:
        found.append("prlimit is missing (Debian/Ubuntu: apt-get install util-linux)")
    if not found:
        trial = subprocess.run(["bwrap", *_namespaces(), "--ro-bind", "/", "/", "true"], capture_output=True, text=True)
        if trial.returncode != 0:
            found.append("bubblewrap cannot create namespaces here (" + trial.stderr.strip()
                         + "); run as root or allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)")
    try:
        PrivateMount.create(Limits(disk_mb=1, files=16)).remove()
    except OSError as error:
        found.append(f"cannot mount a private tmpfs for a kernel ({error}); run the grader as root")
    for controller in CONTROLLERS:
        folder = CGROUP_ROOT / controller
        if not (folder / "cgroup.procs").exists():
            found.append(f"the cgroup v1 '{controller}' controller is not mounted at {folder} (cgroup v2-only "
                         "machines are not supported yet)")
            continue
        trial = folder / f"grading-check-{uuid.uuid4().hex[:8]}"
        try:
            trial.mkdir(parents=True)
            trial.rmdir()
        except OSError as error:
            found.append(f"cannot create a cgroup under {folder} ({error.strerror}); run the grader as root")
    hidden = Path(__file__).resolve().parent
    for root in _python_roots():
        if hidden == root or root in hidden.parents:
            found.append(f"the grader's code ({hidden}, the hidden tests) lies inside {root}, which kernels can read: "
                         "install the course with `pip install -e .` (tools/setup_env.sh does) so that it stays outside")
    return found


def _namespaces() -> list[str]:
    # --unshare-user with --uid: root inside is mapped away, so the kernel keeps no capability
    # over the files it sees; --disable-userns: no nested namespace to regain them.
    return ["--unshare-all", "--unshare-user", "--uid", "65534", "--gid", "65534", "--disable-userns",
            "--cap-drop", "ALL", "--die-with-parent", "--new-session"]


def _python_roots() -> list[Path]:
    return sorted({Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(sys.executable).resolve().parents[1]})


class Cgroup:
    """A cgroup v1 group of the same path under the memory, pids and cpu controllers."""

    def __init__(self, path: str):
        self.path = path
        self.folders = {controller: CGROUP_ROOT / controller / path for controller in CONTROLLERS}

    @classmethod
    def create(cls, name: str, limits: Limits, memory_mb: int | None = None) -> Cgroup:
        group = cls(f"grading/{name}-{uuid.uuid4().hex[:8]}")
        for folder in group.folders.values():
            folder.mkdir(parents=True)
        memory = group.folders["memory"]
        limit = str((memory_mb or limits.memory_mb) * 2**20)
        (memory / "memory.limit_in_bytes").write_text(limit)
        if (memory / "memory.memsw.limit_in_bytes").exists():  # swap counts too, where there is swap
            (memory / "memory.memsw.limit_in_bytes").write_text(limit)
        (group.folders["pids"] / "pids.max").write_text(str(limits.processes))
        period = 100_000
        (group.folders["cpu"] / "cpu.cfs_period_us").write_text(str(period))
        (group.folders["cpu"] / "cpu.cfs_quota_us").write_text(str(int(limits.cpu_cores * period)))
        return group

    def join_command(self) -> str:
        """Shell words that move the shell running them into this group."""
        return "; ".join(f"echo $$ > {shlex.quote(str(folder / 'cgroup.procs'))}" for folder in self.folders.values())

    def counters(self) -> dict[str, int]:
        """Out-of-memory kills, refused forks and the peak memory (MB) so far."""
        oom = (self.folders["memory"] / "memory.oom_control").read_text()
        events = (self.folders["pids"] / "pids.events").read_text()
        return {
            "memory_kills": _field(oom, "oom_kill"),
            "refused_forks": _field(events, "max"),
            "peak_memory_mb": int((self.folders["memory"] / "memory.max_usage_in_bytes").read_text()) // 2**20,
        }

    def kill_all(self) -> None:
        """Kill whatever still runs in the group (a fork bomb's leftovers), and wait until it is gone."""
        for _ in range(50):
            pids = [int(pid) for pid in (self.folders["pids"] / "cgroup.procs").read_text().split()]
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)

    def remove(self) -> None:
        """Kill whatever still runs in the group, then delete it."""
        self.kill_all()
        for folder in self.folders.values():
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # the last processes are still exiting
                    time.sleep(0.1)


def _field(text: str, name: str) -> int:
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == name:
            return int(value)
    return 0


class PrivateMount:
    """A kernel's own tmpfs, with a size and a file-count quota: ``work`` (a copy of the
    notebook's folder), ``tmp`` and ``ipc`` (its connection file and sockets).

    Mounted by the grader (root) and unmounted when the kernel ends, so nothing the kernel wrote is
    ever read or walked by the grader.
    """

    def __init__(self, root: Path):
        self.root = root
        self.work, self.tmp, self.ipc = root / "work", root / "tmp", root / "ipc"

    @classmethod
    def create(cls, limits: Limits, source: Path | None = None, folder: Path | None = None) -> PrivateMount:
        root = Path(tempfile.mkdtemp(prefix="k-", dir=folder or _runtime_root()))
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={limits.disk_mb}m,nr_inodes={limits.files},mode=0700",
                        "tmpfs", str(root)], check=True, capture_output=True)
        mount = cls(root)
        for folder in (mount.work, mount.tmp, mount.ipc):
            folder.mkdir()
        if source is not None:
            from grading.staging import copy_folder

            copy_folder(source, mount.work)
        return mount

    def remove(self) -> None:
        subprocess.run(["umount", "-l", str(self.root)], capture_output=True)
        try:
            self.root.rmdir()
        except OSError:
            pass


class SandboxedKernelManager(IpcKernelManager):
    """Starts kernels inside the sandbox described by :data:`SANDBOX_ENV`, if set.

    Each kernel gets a :class:`PrivateMount` for its working copy, connection file and sockets;
    nothing of the grader's runtime folder is visible to it.
    """

    private: PrivateMount | None = None

    async def _async_pre_start_kernel(self, **kw):  # start_kernel calls this one by name
        sandbox = current()
        if sandbox is not None:
            cwd = Path(kw.get("cwd") or os.getcwd()).resolve()
            self.private = PrivateMount.create(sandbox.limits, source=cwd,
                                               folder=Path(sandbox.mounts) if sandbox.mounts else None)
            self.ip = str(self.private.ipc / "k")
            self.connection_file = str(self.private.ipc / "kernel.json")
            self.start_counters = Cgroup(sandbox.cgroup).counters()
        return await super()._async_pre_start_kernel(**kw)

    def lock_sockets(self) -> None:
        if self.private is not None:
            os.chown(self.private.ipc, LOCKED_OWNER, LOCKED_OWNER)
            os.chmod(self.private.ipc, 0o755)

    def format_kernel_cmd(self, extra_arguments=None) -> list[str]:
        command = super().format_kernel_cmd(extra_arguments)
        sandbox = current()
        if sandbox is None:
            return command
        cwd = Path(self._launch_args.get("cwd") or os.getcwd()).resolve()
        binds = [(self.private.work, cwd, True), (self.private.ipc, self.private.ipc, True)]
        if (self.private.work / WEIGHTS_FOLDER).is_dir():
            # The submitted weights, read-only (a mount the kernel cannot move or undo): a cell that
            # retrains and saves over them while grading fails, and the grader records it.
            binds.append((self.private.work / WEIGHTS_FOLDER, cwd / WEIGHTS_FOLDER, False))
        env = self._launch_args.get("env") or os.environ
        archive = Path(env.get("CIFAR10_PATH") or "/nonexistent")
        if archive.name.endswith(".tar.gz") and archive.is_file():
            # keras.datasets.cifar10.load_data() finds the instructor's copy where it keeps its
            # download, and checks its hash as usual: no network needed for an identical archive.
            binds.append((archive.resolve(), Path("/tmp/keras/datasets") / KERAS_CIFAR10_ARCHIVE, False))
        variables = {name: env[name] for name in KEPT_VARIABLES if env.get(name)}
        variables.update(HOME="/tmp/home", KERAS_HOME="/tmp/keras", MPLCONFIGDIR="/tmp/matplotlib",
                         PYTHONSAFEPATH="1", JPY_PARENT_PID="1")  # ipykernel watches its parent: bwrap's pid 1
        # CPU: SIGXCPU at the soft limit (so the death can be named), SIGKILL 5 s later at the hard one.
        cpu = sandbox.limits.cpu_seconds
        wrapped = ["prlimit", f"--cpu={cpu}:{cpu + 5}", f"--fsize={sandbox.limits.file_mb * 2**20}", "--core=0", "--",
                   *bubblewrap(binds, sandbox.read_only, variables, cwd, tmp=self.private.tmp), "--", *command, APPEND_CWD]
        return ["sh", "-c", f"{Cgroup(sandbox.cgroup).join_command()}; exec {shlex.join(wrapped)}"]

    async def interrupt_kernel(self) -> None:
        # A SIGINT would reach bubblewrap, not the kernel, and end both: interrupt by message.
        if current() is not None and self.has_kernel:
            self._connect_control_socket()
            self.session.send(self._control_socket, self.session.msg("interrupt_request", content={}))
            return
        await super().interrupt_kernel()

    def death_reason(self) -> str:
        """Why the kernel died, as the student should read it."""
        sandbox = current()
        process = getattr(self.provisioner, "process", None)
        code = process.poll() if process is not None else None
        if sandbox is not None:
            now = Cgroup(sandbox.cgroup).counters()
            if now["memory_kills"] > self.start_counters["memory_kills"]:
                return (f"it ran out of memory: a submission may use at most {sandbox.limits.memory_mb:,} MB "
                        "(look for data copied many times, or a list or array that keeps growing)")
            if code in (128 + signal.SIGXCPU, -signal.SIGXCPU):
                return f"it used more than {sandbox.limits.cpu_seconds} s of CPU time in one notebook"
        return f"the kernel process ended with exit code {code}" if code is not None else "the kernel stopped answering"

    async def cleanup_resources(self, restart: bool = False) -> None:
        await super().cleanup_resources(restart=restart)
        sandbox = current()
        if sandbox is not None and not restart:
            # The next kernel of the submission starts with nothing of this one left: no process, no file.
            Cgroup(sandbox.cgroup).kill_all()
        if self.private is not None and not restart:
            self.private.remove()
            self.private = None


def _runtime_root() -> Path:
    """Where private mounts go: short (a Unix socket path holds at most 107 bytes), root's only."""
    root = Path(tempfile.gettempdir()) / "grading-kernels"
    root.mkdir(mode=0o700, exist_ok=True)
    return root


def mounts_folder() -> Path:
    """A folder for one submission's private mounts, so that :func:`remove_mounts` can find every
    one of them after its grading process ended, however it ended."""
    return Path(tempfile.mkdtemp(prefix="s-", dir=_runtime_root()))


def remove_mounts(folder: Path) -> None:
    """Unmount and remove every private mount in ``folder``, then the folder."""
    for mount in folder.iterdir():
        PrivateMount(mount).remove()
    folder.rmdir()


def bubblewrap(binds: list[tuple[Path, Path, bool]], read_only: list[str], variables: dict, cwd: Path,
               tmp: Path | int) -> list[str]:
    """The ``bwrap`` command line (without the command it runs): the system, Python and
    ``read_only`` paths read-only, ``binds`` as ``(source, target, writable)``, only ``variables``
    in the environment, starting in ``cwd``; ``/tmp`` is the folder ``tmp``, or a fresh tmpfs of
    ``tmp`` MB."""
    args = ["bwrap", *_namespaces(), "--clearenv", "--proc", "/proc", "--dev", "/dev", "--ro-bind", "/usr", "/usr"]
    # /tmp before everything else: Python, the course or the submission may lie below /tmp, and a
    # later mount hides what an earlier one put below it.
    if isinstance(tmp, Path):
        args += ["--bind", str(tmp), "/tmp"]
    else:
        args += ["--size", str(tmp * 2**20), "--tmpfs", "/tmp"]
    for link in ("bin", "lib", "lib64", "sbin"):
        target = Path("/") / link
        if target.is_symlink():
            args += ["--symlink", os.readlink(target), str(target)]
        elif target.exists():
            args += ["--ro-bind", str(target), str(target)]
    for path in [*SYSTEM_FILES, *map(str, _python_roots()), *read_only]:
        if Path(path).exists():
            args += ["--ro-bind", str(Path(path).resolve()), str(Path(path).resolve())]
    if Path(sys.prefix) != Path(sys.prefix).resolve():
        args += ["--symlink", str(Path(sys.prefix).resolve()), sys.prefix]
    for source, target, writable in binds:
        args += ["--bind" if writable else "--ro-bind", str(source), str(target)]
    args += ["--dir", "/tmp/home", "--chdir", str(cwd)]
    variables = {**variables, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    for name, value in variables.items():
        args += ["--setenv", name, value]
    return args


def checker_command(sandbox: Sandbox, arguments: list[str], read_only: list[Path], env: dict) -> list[str]:
    """The command that starts the checker (``python -I -m grading.checker ARGUMENTS``) in its own
    cgroup and a sandbox like a kernel's: the grader's code and the course package, ``read_only``
    (the data, the executor's records, the graded submission) and a private ``/tmp``, no network."""
    import cifar10_course

    code = [Path(__file__).resolve().parent, Path(cifar10_course.__file__).resolve().parent]
    variables = {name: env[name] for name in ("CIFAR10_CACHE_DIR", "TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS",
                                              "LANG", "LC_ALL") if env.get(name)}
    variables.update(HOME="/tmp/home", KERAS_HOME="/tmp/keras", MPLCONFIGDIR="/tmp/matplotlib")
    args = bubblewrap([], [*map(str, code), *map(str, read_only), *sandbox.read_only], variables, Path("/tmp"), tmp=512)
    command = ["prlimit", f"--fsize={sandbox.limits.file_mb * 2**20}", "--core=0", "--", *args, "--",
               sys.executable, "-I", "-m", "grading.checker", *arguments]
    join = Cgroup(sandbox.checker_cgroup).join_command() if sandbox.checker_cgroup else "true"
    return ["sh", "-c", f"{join}; exec {shlex.join(command)}"]
