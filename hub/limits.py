"""Memory and CPU limits for every user's server on the course's hub.

JupyterHub's LocalProcessSpawner enforces no ``mem_limit`` or ``cpu_limit``. The hub runs as root:
once a user's server has started, :func:`limit` moves its process into a control group of that
user's (every kernel it starts stays in it), with a memory limit (the kernel that runs over it is
killed by the kernel's out-of-memory killer, the server goes on) and a CPU share. cgroup v2, as on
Debian 11+ and Ubuntu 21.10+: ``/sys/fs/cgroup/jupyterhub/<user>``; cgroup v1:
``/sys/fs/cgroup/<controller>/jupyterhub/<user>``. Copied next to the hub's config by
``python hub/course_hub.py``; the hub imports nothing of the course's.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PERIOD = 100_000  # microseconds of the CPU quota's period


def limit(user: str, pid: int, memory_mb: int, cpus: float, root: Path = ROOT) -> str:
    """Put the process ``pid`` (a user's server) into ``user``'s group with these limits; returns
    where, or why not (no writable cgroup here: the server then runs without limits)."""
    try:
        if (root / "cgroup.controllers").is_file():
            return _v2(user, pid, memory_mb, cpus, root)
        if (root / "memory" / "cgroup.procs").is_file():
            return _v1(user, pid, memory_mb, cpus, root)
    except OSError as error:
        return f"no limits: {error}"
    return "no limits: no cgroup controllers here"


def _v2(user: str, pid: int, memory_mb: int, cpus: float, root: Path) -> str:
    parent = root / "jupyterhub"
    parent.mkdir(exist_ok=True)
    available = (root / "cgroup.controllers").read_text().split()
    wanted = [name for name in ("memory", "cpu") if name in available]
    for folder in (root, parent):
        (folder / "cgroup.subtree_control").write_text(" ".join(f"+{name}" for name in wanted))
    group = parent / user
    group.mkdir(exist_ok=True)
    if "memory" in wanted:
        (group / "memory.max").write_text(str(memory_mb * 2**20))
    if "cpu" in wanted:
        (group / "cpu.max").write_text(f"{int(cpus * PERIOD)} {PERIOD}")
    (group / "cgroup.procs").write_text(str(pid))
    return str(group)


def _v1(user: str, pid: int, memory_mb: int, cpus: float, root: Path) -> str:
    memory, cpu = root / "memory" / "jupyterhub" / user, root / "cpu" / "jupyterhub" / user
    memory.mkdir(parents=True, exist_ok=True)
    (memory / "memory.limit_in_bytes").write_text(str(memory_mb * 2**20))
    (memory / "cgroup.procs").write_text(str(pid))
    if (root / "cpu" / "cgroup.procs").is_file():
        cpu.mkdir(parents=True, exist_ok=True)
        (cpu / "cpu.cfs_period_us").write_text(str(PERIOD))
        (cpu / "cpu.cfs_quota_us").write_text(str(int(cpus * PERIOD)))
        (cpu / "cgroup.procs").write_text(str(pid))
    return str(memory)
