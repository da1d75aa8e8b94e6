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
"""

from __future__ import annotations

import uuid
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.paths import jupyter_runtime_dir
from traitlets import default


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
