"""The grading's kernel managers, and the jupyter_client kernel provisioner that starts their kernels.

A provisioner is jupyter_client's public way to wrap how a kernel starts: what keeps the grader
safe (the kernel's bounds told its pid, its sockets locked, the message-size cap) runs in
:class:`SandboxProvisioner`'s ``pre_launch``, ``launch_kernel`` and ``cleanup``, which
jupyter_client calls by contract, not in overridden private methods of the manager that a
renamed method would skip silently. The managers choose it through their kernel specs
(:class:`GradingKernelSpecs`); jupyter_client finds it through the entry point
:data:`PROVISIONER`, which ``pyproject.toml`` declares.

Kernels talk to the grader over Unix sockets (the ``ipc`` transport): every other user of a
machine can connect to a kernel's TCP ports, and ipykernel warns about that ("Kernel is running
over TCP without encryption") once per kernel, into the instructor's output. jupyter_client names
the socket files after the connection file, or ``kernel-ipc`` in the current folder; nbclient
starts the kernel in the notebook's folder while the client stays in its own, so a relative name
points the two at different sockets: every kernel here gets an absolute, unique, short name (a Unix
socket path may hold at most 107 bytes) in Jupyter's runtime folder, or in its private mount.

The grader connects once all five socket files exist; in the sandbox their folder is first made
unwritable for the kernel (:meth:`PrivateMount.lock_sockets`; nothing but ipykernel has run in the
kernel yet). Every message from the kernel is limited to :data:`MAX_MESSAGE_BYTES` (ZeroMQ drops a
larger one), which bounds the grader's memory whatever the notebook prints.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import stat
import sys
import time
import uuid
from importlib.metadata import Distribution, DistributionFinder, entry_points
from pathlib import Path

import zmq
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from jupyter_core.paths import jupyter_runtime_dir
from traitlets import Bool, default

from grading.sandbox.bubblewrap import kernel_command
from grading.sandbox.mounts import PrivateMount
from grading.sandbox.settings import Sandbox, current

MAX_MESSAGE_BYTES = 64 * 2**20
SOCKET_WAIT_SECONDS = 60
# jupyter_client looks provisioners up by name in this entry-point group.
PROVISIONERS = "jupyter_client.kernel_provisioners"
PROVISIONER = "grading-sandbox"
PROVISIONER_TARGET = "grading.sandbox.kernels:SandboxProvisioner"  # as pyproject.toml declares it


class SandboxProvisioner(LocalProvisioner):
    """Starts a kernel as jupyter_client's local provisioner does, and returns once it may be
    connected to: its five socket files exist (as sockets), their folder is locked and the
    manager's messages are capped. With ``confined``, the kernel starts in the sandbox that
    :data:`grading.sandbox.settings.SANDBOX_ENV` describes: in its private mount (working copy,
    connection file and sockets), inside bubblewrap, in the submission's bounds, which learn the
    kernel's pid before any of the student's code can run; what it leaves is killed and unmounted
    when the kernel ends."""

    confined = Bool(False, config=True, help="Start the kernel in the sandbox that SANDBOX_ENV describes.")

    sandbox: Sandbox | None = None
    private: PrivateMount | None = None
    start_counters: dict | None = None  # the bounds' counters before this kernel started

    async def pre_launch(self, **kwargs) -> dict:
        if self.confined and self.sandbox is None:
            self.sandbox = current()
        cwd = Path(kwargs.get("cwd") or os.getcwd()).resolve()
        if self.sandbox is not None:
            if self.private is None:  # a restart keeps its mount
                self.private = PrivateMount.create(self.sandbox.limits, source=cwd,
                                                   folder=Path(self.sandbox.mounts) if self.sandbox.mounts else None)
            # Before jupyter_client writes the connection file: sockets and connection file on the mount.
            self.parent.ip = str(self.private.ipc / "k")
            self.parent.connection_file = str(self.private.ipc / "kernel.json")
            self.start_counters = self.sandbox.kernels().counters()
        kwargs = await super().pre_launch(**kwargs)
        if self.sandbox is not None:
            kwargs["cmd"] = kernel_command(self.sandbox, self.private, kwargs["cmd"], cwd, kwargs["env"])
        return kwargs

    async def launch_kernel(self, cmd: list[str], **kwargs) -> dict:
        connection_info = await super().launch_kernel(cmd, **kwargs)
        if self.sandbox is not None:
            self.sandbox.kernels().started(self.pid)  # before any of the student's code can run
        await self.wait_for_sockets()
        if self.private is not None:
            self.private.lock_sockets()
        limit_messages(self.parent.context)  # before the manager connects its control socket
        return connection_info

    def socket_paths(self) -> list[str]:
        """The kernel's five socket files (shell, iopub, stdin, control, heartbeat)."""
        info = self.connection_info
        return [f"{info['ip']}-{info[f'{name}_port']}" for name in ("shell", "iopub", "stdin", "control", "hb")]

    async def wait_for_sockets(self) -> None:
        """Return once every socket file exists as a socket (not a link); give up after
        :data:`SOCKET_WAIT_SECONDS` or when the kernel process has ended."""
        if self.connection_info.get("transport") != "ipc":
            return
        deadline = time.monotonic() + SOCKET_WAIT_SECONDS
        while time.monotonic() < deadline:
            if all(_is_socket(path) for path in self.socket_paths()):
                return
            if self.process is None or self.process.poll() is not None:
                return  # nbclient reports the dead kernel
            await asyncio.sleep(0.05)

    def death_reason(self) -> str:
        """Why the kernel died, as the student should read it."""
        code = self.process.poll() if self.process is not None else None
        if self.sandbox is not None:
            now, before, limits = self.sandbox.kernels().counters(), self.start_counters or {}, self.sandbox.limits
            if now.get("memory_kills", 0) > before.get("memory_kills", 0):
                return (f"it ran out of memory: a submission may use at most {limits.memory_mb:,} MB "
                        "(look for data copied many times, or a list or array that keeps growing)")
            if now.get("process_kills", 0) > before.get("process_kills", 0):
                return (f"it ran more than {limits.processes} processes and threads at once, the most a submission may "
                        "run (look for a loop that starts processes)")
            if code in (128 + signal.SIGXCPU, -signal.SIGXCPU):
                return f"it used more than {limits.cpu_seconds} s of CPU time in one notebook"
        return f"the kernel process ended with exit code {code}" if code is not None else "the kernel stopped answering"

    async def cleanup(self, restart: bool = False) -> None:
        await super().cleanup(restart=restart)
        if restart:
            return
        if self.sandbox is not None:
            # The next kernel of the submission starts with nothing of this one left: no process, no file.
            self.sandbox.kernels().kill_all()
        if self.private is not None:
            self.private.remove()
            self.private = None


class GradingKernelSpecs(KernelSpecManager):
    """Kernel specs that name :class:`SandboxProvisioner`, confined when ``sandboxed`` and this
    process grades in a sandbox; a confined kernel is interrupted by a message, since a SIGINT
    would reach bubblewrap, not the kernel, and end both."""

    sandboxed = Bool(False, help="Start kernels in the sandbox that SANDBOX_ENV describes, where it is set.")

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        declare_provisioner()
        spec = super().get_kernel_spec(kernel_name)
        confined = self.sandboxed and current() is not None
        spec.metadata = {**spec.metadata,
                         "kernel_provisioner": {"provisioner_name": PROVISIONER, "config": {"confined": confined}}}
        if confined:
            spec.interrupt_mode = "message"
        return spec


class IpcKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` on the ``ipc`` transport, with its sockets in the runtime folder,
    whose kernels start through :class:`SandboxProvisioner` (never confined).

    Asynchronous, as nbgrader's own default: with a blocking manager, nbclient waits forever for
    the output of a kernel that died instead of reporting ``DeadKernelError``.
    """

    sandboxed = False

    @default("transport")
    def _default_transport(self) -> str:
        return "ipc"

    @default("ip")
    def _default_ip(self) -> str:
        folder = Path(jupyter_runtime_dir())
        folder.mkdir(parents=True, exist_ok=True)
        return str(folder / f"kernel-{uuid.uuid4().hex[:12]}-ipc")

    @default("kernel_spec_manager")
    def _default_kernel_spec_manager(self) -> GradingKernelSpecs:
        return GradingKernelSpecs(data_dir=self.data_dir, sandboxed=self.sandboxed)

    def client(self, **kwargs):
        client = super().client(**kwargs)
        limit_messages(client.context)  # before its channels connect
        return client


class SandboxedKernelManager(IpcKernelManager):
    """Starts kernels inside the sandbox described by :data:`grading.sandbox.settings.SANDBOX_ENV`,
    if set (else unconfined, as in plain ``nbgrader autograde``)."""

    sandboxed = True

    def death_reason(self) -> str:
        """Why the kernel died, as the student should read it."""
        if isinstance(self.provisioner, SandboxProvisioner):
            return self.provisioner.death_reason()
        return "the kernel stopped answering"


def limit_messages(context: zmq.Context) -> None:
    """Sockets made from ``context`` from now on take messages of at most :data:`MAX_MESSAGE_BYTES`."""
    context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.lstat(path).st_mode)
    except OSError:
        return False


@functools.cache
def declare_provisioner() -> None:
    """Make :data:`PROVISIONER` findable in this process where the course was never installed
    (a hub runs the grader from the instructor's copy of the course, on ``PYTHONPATH``): the same
    entry point as ``pyproject.toml``'s, published through importlib.metadata's documented finder
    hook (``find_distributions``)."""
    if not entry_points(group=PROVISIONERS, name=PROVISIONER):
        sys.meta_path.append(_ProvisionerFinder())


class _Provisioner(Distribution):
    """The course's entry point for its provisioner, as an installed course's metadata holds it."""

    NAME = "cifar10-course-grading-provisioner"

    def read_text(self, filename: str) -> str | None:
        return {"METADATA": f"Metadata-Version: 2.1\nName: {self.NAME}\nVersion: 0\n",
                "entry_points.txt": f"[{PROVISIONERS}]\n{PROVISIONER} = {PROVISIONER_TARGET}\n"}.get(filename)

    def locate_file(self, path) -> Path:
        return Path(__file__).parent / path


class _ProvisionerFinder(DistributionFinder):
    def find_spec(self, *args, **kwargs) -> None:
        return None  # it finds metadata, never modules

    def find_distributions(self, context=DistributionFinder.Context()):
        return iter([_Provisioner()] if context.name in (None, _Provisioner.NAME) else [])
