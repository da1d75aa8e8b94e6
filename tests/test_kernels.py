"""The grading kernels listen on Unix sockets (grading/sandbox/kernels.py), also when started in another folder."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from grading.sandbox.kernels import IpcKernelManager


def test_kernel_in_another_folder_answers_over_unix_sockets(tmp_path):
    asyncio.run(_start_run_and_stop(tmp_path))


async def _start_run_and_stop(tmp_path):
    manager = IpcKernelManager(kernel_name="python3")
    await manager.start_kernel(cwd=str(tmp_path))  # nbclient starts kernels in the notebook's folder.
    client = manager.client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        assert manager.transport == "ipc" and Path(manager.ip).is_absolute()
        assert len(f"{manager.ip}-{manager.shell_port}") < 108  # A Unix socket path's limit.
        reply = await client.execute_interactive("import os; print(os.getcwd())", timeout=30)
        assert reply["content"]["status"] == "ok"
        sockets = list(Path(manager.ip).parent.glob(Path(manager.ip).name + "-*"))
        assert sockets, "the kernel should listen on socket files beside its connection file"
    finally:
        client.stop_channels()
        await manager.shutdown_kernel(now=True)
    assert not list(Path(manager.ip).parent.glob(Path(manager.ip).name + "-*")), "sockets are removed on shutdown"


def test_every_kernel_gets_its_own_sockets():
    assert IpcKernelManager().ip != IpcKernelManager().ip
    assert os.path.isabs(IpcKernelManager().ip)
