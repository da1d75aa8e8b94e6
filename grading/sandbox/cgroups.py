"""Bounds from Linux control groups, v1 and v2: memory, processes and a CPU share, enforced by the
kernel rather than sampled.

Used where the grader may create groups (root, or a user in a delegated v2 subtree); which way
applies is :mod:`grading.sandbox.ways`' choice.
"""

from __future__ import annotations

import os
import shlex
import signal
import time
import uuid
from pathlib import Path

from grading.sandbox.bounds import Bounds
from grading.sandbox.limits import Limits
from grading.sandbox.watchdog import Record, Sampler

CGROUP_ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("memory", "pids", "cpu")


class CgroupV1(Bounds):
    """A cgroup v1 group of the same path under the memory, pids and cpu controllers."""

    way = "cgroup-v1"

    def __init__(self, path: str, root: str = str(CGROUP_ROOT)):
        self.path, self.root = path, root

    @property
    def folders(self) -> dict[str, Path]:
        return {controller: Path(self.root) / controller / self.path for controller in CONTROLLERS}

    @classmethod
    def create(cls, name: str, limits: Limits, memory_mb: int) -> CgroupV1:
        group = cls(f"grading/{name}-{uuid.uuid4().hex[:8]}")
        for folder in group.folders.values():
            folder.mkdir(parents=True)
        memory = group.folders["memory"]
        limit = str(memory_mb * 2**20)
        (memory / "memory.limit_in_bytes").write_text(limit)
        if (memory / "memory.memsw.limit_in_bytes").exists():  # swap counts too, where there is swap
            (memory / "memory.memsw.limit_in_bytes").write_text(limit)
        (group.folders["pids"] / "pids.max").write_text(str(limits.processes))
        period = 100_000
        (group.folders["cpu"] / "cpu.cfs_period_us").write_text(str(period))
        (group.folders["cpu"] / "cpu.cfs_quota_us").write_text(str(int(limits.cpu_cores * period)))
        return group

    def launch(self, command: list[str]) -> list[str]:
        return _joining([folder / "cgroup.procs" for folder in self.folders.values()], command)

    def counters(self) -> dict[str, int]:
        oom = (self.folders["memory"] / "memory.oom_control").read_text()
        events = (self.folders["pids"] / "pids.events").read_text()
        return {
            "memory_kills": _field(oom, "oom_kill"),
            "refused_forks": _field(events, "max"),
            "peak_memory_mb": int((self.folders["memory"] / "memory.max_usage_in_bytes").read_text()) // 2**20,
        }

    def kill_all(self) -> None:
        _kill_members(self.folders["pids"])

    def remove(self) -> None:
        self.kill_all()
        for folder in self.folders.values():
            _remove_group(folder)


class CgroupV2(Bounds):
    """A cgroup v2 group: ``memory.max`` (and ``memory.swap.max`` 0 where there is swap),
    ``pids.max`` and ``cpu.max`` where the cpu controller is enabled."""

    way = "cgroup-v2"

    def __init__(self, folder: str, record: str | None = None):
        self.folder = folder
        self.record = record  # where the peak memory is sampled to, on kernels without memory.peak

    @classmethod
    def create(cls, parent: Path, name: str, limits: Limits, memory_mb: int, controllers: tuple,
               records: Path) -> CgroupV2:
        folder = parent / f"{name}-{uuid.uuid4().hex[:8]}"
        folder.mkdir()
        (folder / "memory.max").write_text(str(memory_mb * 2**20))
        if (folder / "memory.swap.max").exists():
            (folder / "memory.swap.max").write_text("0")
        (folder / "pids.max").write_text(str(limits.processes))
        if "cpu" in controllers:
            period = 100_000
            (folder / "cpu.max").write_text(f"{int(limits.cpu_cores * period)} {period}")
        group = cls(str(folder))
        if not (folder / "memory.peak").exists():  # before Linux 5.19 (a cgroupfs holds no file of ours)
            group.record = str(records / f"{folder.name}.peak.json")
        return group

    def launch(self, command: list[str]) -> list[str]:
        return _joining([Path(self.folder) / "cgroup.procs"], command)

    def started(self, pid: int) -> None:
        if self.record is not None:
            folder = Path(self.folder)
            Sampler(pid, lambda processes: Record(self.record).peak(int((folder / "memory.current").read_text()))).start()

    def counters(self) -> dict[str, int]:
        folder = Path(self.folder)
        peak = folder / "memory.peak"
        return {
            "memory_kills": _field(_read(folder / "memory.events"), "oom_kill"),
            "refused_forks": _field(_read(folder / "pids.events"), "max"),
            "peak_memory_mb": (int(peak.read_text()) // 2**20 if peak.exists()
                               else Record(self.record).read().get("peak_memory_mb", 0) if self.record else 0),
        }

    def kill_all(self) -> None:
        folder = Path(self.folder)
        if (folder / "cgroup.kill").exists():  # Linux 5.14: the kernel kills every member at once
            (folder / "cgroup.kill").write_text("1")
        _kill_members(folder)

    def remove(self) -> None:
        self.kill_all()
        _remove_group(Path(self.folder))
        if self.record:
            Path(self.record).unlink(missing_ok=True)


def _joining(procs: list[Path], command: list[str]) -> list[str]:
    """A shell that moves itself into the groups of the ``procs`` files, then becomes ``command``."""
    join = "; ".join(f"echo $$ > {shlex.quote(str(path))}" for path in procs)
    return ["sh", "-c", f"{join}; exec {shlex.join(command)}"]


def _kill_members(folder: Path) -> None:
    """SIGKILL every process listed in the group ``folder``'s ``cgroup.procs`` until none is left."""
    for _ in range(50):
        pids = [int(pid) for pid in _read(folder / "cgroup.procs").split()]  # none once the group is gone
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)


def _remove_group(folder: Path) -> None:
    for _ in range(50):
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:  # the last processes are still exiting
            time.sleep(0.1)


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _field(text: str, name: str) -> int:
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == name:
            return int(value)
    return 0
