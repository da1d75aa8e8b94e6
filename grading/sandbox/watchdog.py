"""Bounds without any cgroup, for a grader that may create none: per-process limits, and a thread
that samples the kernel's processes in ``/proc`` and kills them over a cap.

The ``/proc`` sampling (:class:`Sampler`) and the counters file (:class:`Record`) also serve
cgroup v2 on Linux before 5.19, whose groups keep no memory peak.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from grading.sandbox.bounds import Bounds
from grading.sandbox.limits import Limits

# How often the watchdog looks at a kernel's processes. A memory cap can be overshot by what the
# kernel allocates in one interval (about 0.1 s), or longer on a machine too busy to run it.
SAMPLE_SECONDS = 0.1


class Watchdog(Bounds):
    """Bounds without any cgroup, for a grader that may create none.

    - ``prlimit --nproc`` inside bubblewrap caps the kernel's processes and threads. Linux counts
      them per user namespace, so the cap covers the kernel's own tree exactly; it binds only where
      the grader is not root (root's processes are exempt from RLIMIT_NPROC, in any namespace).
    - a thread of the process that started the kernel (:class:`Sampler`) looks at the kernel's
      processes every :data:`SAMPLE_SECONDS` (the tree below the process it started, read from
      ``/proc``) and kills the whole tree when their resident memory exceeds the cap (counting
      pages that forked copies share once), or when they are more than the process cap (the only
      process cap for a root grader). Killing the first process of the kernel's PID namespace
      takes every other one with it at once, a fork bomb's too.

    What it did goes into a small JSON file (:class:`Record`) that :meth:`counters` reads, with a
    cgroup's counters, so the student's message and the report are the same. A sampled cap can be
    overshot by what a kernel allocates within one interval (more on a machine too busy to run
    the thread on time); a private mount's files count towards its own quota, not the memory cap;
    there is no CPU share.
    """

    way = "watchdog"

    def __init__(self, record: str, memory_mb: int, processes: int, refused_at_cap: bool, own_process: bool = False):
        self.record, self.memory_mb, self.processes = record, memory_mb, processes
        self.refused_at_cap = refused_at_cap  # the kernel's RLIMIT_NPROC binds (a grader without root)
        self.own_process = own_process  # one process, without the children it starts (see Way.create)

    @classmethod
    def create(cls, folder: Path, name: str, limits: Limits, memory_mb: int, own_process: bool = False) -> Watchdog:
        record = folder / f"{name}-{uuid.uuid4().hex[:8]}.watchdog.json"
        Record(str(record)).write({"memory_kills": 0, "refused_forks": 0, "process_kills": 0, "peak_memory_mb": 0})
        return cls(str(record), memory_mb, limits.processes, os.geteuid() != 0, own_process)

    def inside(self, command: list[str]) -> list[str]:
        return ["prlimit", f"--nproc={self.processes}", "--", *command]

    def started(self, pid: int) -> None:
        if self.own_process:
            self._watch_one(pid)
            return
        record, cap, lock = Record(self.record), self.memory_mb * 2**20, threading.Lock()
        state = {"killed": False, "at_cap": False}

        def kill(counter: str) -> bool:  # one kill per kernel, under one name, recorded before it happens
            with lock:
                if state["killed"]:
                    return False
                state["killed"] = True
            record.add(counter)
            return True

        def tasks(processes: list[_Process]) -> int:
            return sum(process.threads for process in processes[1:])  # below the grader's own launcher

        def count(processes: list[_Process]) -> bool:
            if tasks(processes) > self.processes:
                return kill("process_kills")
            at_cap = tasks(processes) >= self.processes  # forks fail while it stays there: count that once
            if self.refused_at_cap and at_cap and not state["at_cap"]:
                record.add("refused_forks")
            state["at_cap"] = at_cap
            return False

        def measure(processes: list[_Process]) -> bool:
            if tasks(processes) > self.processes:  # a fork bomb's copies fill memory too: name the cause
                return kill("process_kills")
            memory = sum(process.resident for process in processes)
            if memory > cap:  # forked copies share pages that each one's resident size counts
                memory = sum(_proportional(process) for process in processes)
            record.peak(memory)
            return memory > cap and kill("memory_kills")

        _WATCHED.setdefault(self.record, []).append((pid, _start_time(pid)))
        # Two threads: reading proportional sizes waits on every process that forks, and must not
        # delay the count that stops a fork bomb.
        Sampler(pid, count, limit=self.processes).start()
        Sampler(pid, measure).start()

    def _watch_one(self, pid: int) -> None:
        """Sample one process's own resident memory and kill it over the cap (its children are
        in bounds of their own)."""
        record, cap = Record(self.record), self.memory_mb * 2**20

        def measure(processes: list[_Process]) -> bool:
            memory = processes[0].resident
            record.peak(memory)
            if memory > cap:
                record.add("memory_kills")
                return True
            return False

        Sampler(pid, measure, limit=0, kill_only_first=True).start()

    def counters(self) -> dict[str, int]:
        return Record(self.record).read()

    def kill_all(self) -> None:
        for pid, start_time in _WATCHED.pop(self.record, []):
            for _ in range(50):
                processes = _tree(pid, start_time)
                if processes is None:
                    break
                _kill_tree(processes)
                time.sleep(0.1)

    def remove(self) -> None:
        self.kill_all()
        Path(self.record).unlink(missing_ok=True)


# The launchers each watchdog record's samplers watch in this process: (pid, start time).
_WATCHED: dict[str, list[tuple[int, int | None]]] = {}
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class _Process:
    pid: int
    threads: int
    resident: int  # bytes


class Record:
    """Counters kept by the grader in a JSON file (a watchdog's, or a cgroup v2 group's sampled
    peak): replaced whole on every change, changes serialised within the process."""

    lock = threading.Lock()

    def __init__(self, path: str):
        self.path = Path(path)

    def read(self) -> dict:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def write(self, values: dict) -> None:
        staging = self.path.with_name(self.path.name + ".new")
        staging.write_text(json.dumps(values))
        os.replace(staging, self.path)

    def add(self, name: str) -> None:
        with self.lock:
            values = self.read()
            self.write({**values, name: values.get(name, 0) + 1})

    def peak(self, memory: int) -> None:
        with self.lock:
            values = self.read()
            if memory // 2**20 > values.get("peak_memory_mb", 0):
                self.write({**values, "peak_memory_mb": memory // 2**20})


class Sampler(threading.Thread):
    """Calls ``look(processes)`` every :data:`SAMPLE_SECONDS` with the process tree below ``pid``
    (``pid`` first, then top-down) until ``pid`` ends; kills the tree when ``look`` returns True
    (only ``pid`` with ``kill_only_first``). With ``limit``, a tree of more than ``limit``
    threads below ``pid`` is not walked further."""

    def __init__(self, pid: int, look, limit: int | None = None, kill_only_first: bool = False):
        super().__init__(daemon=True, name=f"grading-sampler-{pid}")
        self.pid, self.look, self.limit, self.kill_only_first = pid, look, limit, kill_only_first
        self.start_time = _start_time(pid)

    def run(self) -> None:
        while (processes := _tree(self.pid, self.start_time, self.limit)) is not None:
            try:
                kill = self.look(processes)
            except OSError:  # its group or record is gone: the submission's grading is over
                return
            if kill:
                _kill_tree(processes[:1] if self.kill_only_first else processes)
            time.sleep(SAMPLE_SECONDS)


def _stat(pid: int) -> tuple[str, int, int, int] | None:
    """State, threads, start time and resident bytes of a process, from ``/proc/PID/stat``."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # the name, in parentheses, may hold anything
    return fields[0], int(fields[17]), int(fields[19]), int(fields[21]) * _PAGE


def _start_time(pid: int) -> int | None:
    found = _stat(pid)
    return found[2] if found else None


def _tree(pid: int, start_time: int | None, limit: int | None = None) -> list[_Process] | None:
    """``pid`` and its descendants, top-down (children of every thread, from ``/proc``); None once
    ``pid`` has ended (or its number belongs to another process)."""
    root = _stat(pid)
    if root is None or root[0] in "ZX" or root[2] != start_time:
        return None
    found, queue, below = [], [pid], 0
    while queue:
        current = queue.pop(0)
        info = _stat(current)
        if info is None:  # it ended meanwhile
            continue
        found.append(_Process(current, info[1], info[3]))
        below += info[1] if current != pid else 0
        if limit is not None and below > limit:
            break
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                queue += [int(child) for child in Path(f"/proc/{current}/task/{task}/children").read_text().split()]
        except OSError:
            continue
    return found


def _proportional(process: _Process) -> int:
    """A process's proportional set size (shared pages divided among those sharing them), in bytes."""
    try:
        for line in Path(f"/proc/{process.pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return process.resident


def _kill_tree(processes: list[_Process]) -> None:
    for process in processes:  # top-down: the launcher, then the PID namespace's first process
        try:
            os.kill(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
