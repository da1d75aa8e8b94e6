"""What one submission may use, and the error for a machine that cannot hold it to that.

The bottom of the sandbox package: every other part reads these numbers, and they depend on nothing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Limits:
    """What one submission may use. Kernels of a submission run one after the other."""

    memory_mb: int = 6144  # the whole submission's group: kernel, its children (with cgroups: its private mount)
    processes: int = 512  # processes and threads (TensorFlow starts dozens of threads)
    cpu_cores: float = 1.0  # CPU share of the submission (cgroups only)
    cpu_seconds: int = 900  # CPU time of one kernel, i.e. one notebook
    file_mb: int = 512  # the largest file a kernel may write
    disk_mb: int = 1024  # a kernel's private mount: its copy of the folder, /tmp and home
    files: int = 20_000  # files and folders in a kernel's private mount
    checker_memory_mb: int = 4096  # the checker's own group
    grader_memory_mb: int = 2048  # the submission's nbgrader process: it reads the kernels' messages and answers


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot be set up on this machine; the message says why and what to install."""
