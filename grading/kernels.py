"""Kernels that talk to nbgrader over Unix sockets instead of TCP ports on localhost.

Every other user of a machine can connect to a kernel's TCP ports, and ipykernel warns about that
("Kernel is running over TCP without encryption") once per kernel, into the instructor's output.
With jupyter_client's ``ipc`` transport the kernel listens on socket files instead, which only
their owner can open.

jupyter_client names those files after the connection file, or ``kernel-ipc`` in the current
folder when none is chosen yet; nbclient starts the kernel in the notebook's folder while the
client stays in its own, so a relative name points the two at different sockets. This manager
gives every kernel an absolute, unique, short name (a Unix socket path may hold at most 107
bytes) in Jupyter's runtime folder.

The grader connects to a kernel once all five socket files exist, after :meth:`lock_sockets`
(nothing but ipykernel has run in the kernel yet): the sandboxed manager then makes the socket
folder unwritable for the kernel, so that no notebook can later swap a socket for a link to
another socket of the machine, which ZeroMQ would follow when it reconnects. Every message from the
kernel is limited to :data:`MAX_MESSAGE_BYTES` (a larger one is dropped by ZeroMQ), which bounds
the grader's memory whatever the notebook prints.
"""

from __future__ import annotations

import asyncio
import os
import stat
import time
import uuid
from pathlib import Path

import zmq
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.paths import jupyter_runtime_dir
from traitlets import default

MAX_MESSAGE_BYTES = 64 * 2**20
SOCKET_WAIT_SECONDS = 60


class IpcKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` on the ``ipc`` transport, with its sockets in the runtime folder.

    Asynchronous, as nbgrader's own default: with a blocking manager, nbclient waits forever for
    the output of a kernel that died instead of reporting ``DeadKernelError``.
    """

    @default("transport")
    def _default_transport(self) -> str:
        return "ipc"

    @default("ip")
    def _default_ip(self) -> str:
        folder = Path(jupyter_runtime_dir())
        folder.mkdir(parents=True, exist_ok=True)
        return str(folder / f"kernel-{uuid.uuid4().hex[:12]}-ipc")

    def socket_paths(self) -> list[str]:
        """The kernel's five socket files (shell, iopub, stdin, control, heartbeat)."""
        ports = (self.shell_port, self.iopub_port, self.stdin_port, self.control_port, self.hb_port)
        return [f"{self.ip}-{port}" for port in ports]

    async def _async_post_start_kernel(self, **kw) -> None:  # start_kernel calls this one by name
        await self.wait_for_sockets()
        self.lock_sockets()
        limit_messages(self.context)  # before the control socket connects
        await super()._async_post_start_kernel(**kw)

    def lock_sockets(self) -> None:
        """Keep the kernel from changing its socket files from now on (see the sandboxed manager)."""

    async def wait_for_sockets(self) -> None:
        """Return once every socket file exists as a socket (not a link); give up after
        :data:`SOCKET_WAIT_SECONDS` or when the kernel process has ended."""
        deadline = time.monotonic() + SOCKET_WAIT_SECONDS
        while time.monotonic() < deadline:
            if all(_is_socket(path) for path in self.socket_paths()):
                return
            process = getattr(self.provisioner, "process", None)
            if process is not None and process.poll() is not None:
                return  # nbclient reports the dead kernel
            await asyncio.sleep(0.05)

    def client(self, **kwargs):
        client = super().client(**kwargs)
        limit_messages(client.context)  # before its channels connect
        return client


def limit_messages(context: zmq.Context) -> None:
    """Sockets made from ``context`` from now on take messages of at most :data:`MAX_MESSAGE_BYTES`."""
    context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.lstat(path).st_mode)
    except OSError:
        return False
