"""What every way of bounding a submission's processes offers: cgroup v1, cgroup v2 or the watchdog.

A module of its own so that the three ways, and the code that picks one, depend on this interface
rather than on each other.
"""

from __future__ import annotations


class Bounds:
    """How the processes of one submission's kernels (or of its checker) are held to its limits.

    :meth:`launch` wraps the command that starts a kernel or the checker (outside bubblewrap),
    :meth:`inside` the command bubblewrap runs; :meth:`started` is told the pid of what
    :meth:`launch` started. :meth:`counters` says what the bounds did so far: ``memory_kills``
    (out-of-memory kills), ``refused_forks``, ``process_kills`` (the watchdog killed a kernel over
    the process cap) and ``peak_memory_mb``.
    """

    way = ""

    def to_dict(self) -> dict:
        return {"way": self.way, **vars(self)}

    def launch(self, command: list[str]) -> list[str]:
        return command

    def inside(self, command: list[str]) -> list[str]:
        return command

    def started(self, pid: int) -> None:
        pass

    def counters(self) -> dict[str, int]:
        raise NotImplementedError

    def kill_all(self) -> None:
        """Kill whatever still runs in the group (a fork bomb's leftovers), and wait until it is gone."""

    def remove(self) -> None:
        """Kill whatever still runs in the group, then delete it."""
