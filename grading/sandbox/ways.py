"""Which way this machine bounds a submission's processes (cgroup v1, cgroup v2 or the watchdog),
and why that way.

Choosing reads the machine (its cgroup mounts, the grader's rights and cgroup); the bounds only
apply a choice, so the two are kept apart. The grader decides once, before grading, and prints why.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from grading.sandbox.bounds import Bounds
from grading.sandbox.cgroups import CGROUP_ROOT, CONTROLLERS, CgroupV1, CgroupV2
from grading.sandbox.limits import Limits, SandboxUnavailable
from grading.sandbox.watchdog import Watchdog

WAYS = ("cgroup-v1", "cgroup-v2", "watchdog")
# A delegated cgroup v2 subtree: the grader moves itself into this leaf (a group with controllers
# enabled for its children may hold no process), and the submissions' groups go beside it.
GRADER_LEAF = "grading-grader"


@dataclass
class Way:
    """How this machine enforces a submission's limits (one of :data:`WAYS`) and why that way."""

    name: str
    why: str
    v2_root: str | None = None  # cgroup v2: the hierarchy's mount
    v2_parent: str | None = None  # cgroup v2: where the groups go, below v2_root
    v2_controllers: tuple = ()  # cgroup v2: the controllers enabled for them
    v2_delegated: bool = False  # cgroup v2: a user's delegated subtree (the grader moves into a leaf)

    def create(self, name: str, limits: Limits, folder: Path, memory_mb: int | None = None,
               own_process: bool = False) -> Bounds:
        """New bounds for one submission's kernels (or its checker or its nbgrader process, with
        ``memory_mb``); what the grader itself counts (the watchdog's counters, a sampled peak) goes
        into ``folder``. ``own_process``: the bounds hold one process, whose children (kernels, the
        checker) go into bounds of their own; a watchdog then counts that process alone."""
        memory = memory_mb or limits.memory_mb
        if self.name == "cgroup-v1":
            return CgroupV1.create(name, limits, memory)
        if self.name == "cgroup-v2":
            _prepare_v2(self)
            return CgroupV2.create(Path(self.v2_root) / self.v2_parent, name, limits, memory, self.v2_controllers, folder)
        return Watchdog.create(folder, name, limits, memory, own_process)


def bounds(data: dict) -> Bounds:
    """The bounds that :meth:`Bounds.to_dict` described."""
    data = dict(data)
    kind = {"cgroup-v1": CgroupV1, "cgroup-v2": CgroupV2, "watchdog": Watchdog}[data.pop("way")]
    return kind(**data)  # each one's attributes are its constructor's arguments


def choose(requested: str = "auto", root: Path = CGROUP_ROOT, own: str | None = None) -> Way:
    """The way to enforce limits here: ``requested`` (one of :data:`WAYS`), or with ``auto`` the
    first that works of cgroup v1, cgroup v2 and the watchdog. ``root`` is where cgroups are
    mounted and ``own`` the grader's cgroup v2 group (default: from ``/proc/self/cgroup``); tests
    point them at a fake tree. Raises :class:`SandboxUnavailable` when the way asked for cannot work."""
    if requested not in ("auto", *WAYS):
        raise SandboxUnavailable(f"no way to enforce limits called {requested!r} (one of auto, {', '.join(WAYS)})")
    v1 = _v1_problem(root)
    if requested in ("auto", "cgroup-v1") and v1 is None:
        return Way("cgroup-v1", f"root, with cgroup v1's memory, pids and cpu controllers in {root}")
    v2 = _v2_way(root, own)
    if requested in ("auto", "cgroup-v2") and isinstance(v2, Way):
        return v2
    if requested == "watchdog":
        return Way("watchdog", "asked for (--limits watchdog)")
    if requested == "auto":
        return Way("watchdog", f"no writable cgroup: {v1}; {v2}")
    raise SandboxUnavailable(f"limits cannot be enforced with {requested}: {v1 if requested == 'cgroup-v1' else v2}")


def _v1_problem(root: Path) -> str | None:
    """Why cgroup v1 cannot be used here, or None."""
    if os.geteuid() != 0:
        return "cgroup v1 needs root"
    for controller in CONTROLLERS:
        folder = root / controller
        if not (folder / "cgroup.procs").exists():
            return f"no cgroup v1 '{controller}' controller at {folder}"
        trial = folder / f"grading-check-{uuid.uuid4().hex[:8]}"
        try:
            trial.mkdir(parents=True)
            trial.rmdir()
        except OSError as error:
            return f"cannot create a cgroup under {folder} ({error.strerror})"
    return None


def _v2_way(root: Path, own: str | None) -> Way | str:
    """The cgroup v2 way here (root: groups in ``grading/``; a user: groups in the delegated
    subtree the grader runs in), or why there is none."""
    if not (root / "cgroup.controllers").is_file():
        return f"{root} is not a cgroup v2 hierarchy"
    delegated = own is not None or os.geteuid() != 0
    if delegated:
        own = (own or _own_cgroup()).strip("/")
        if Path(own).name == GRADER_LEAF:  # this process already moved itself into its leaf
            own = str(Path(own).parent)
        parent, folder = own, root / own
        where = f"your cgroup /{own}"
    else:
        parent, folder = "grading", root
        where = f"{root}"
    available = (folder / "cgroup.controllers").read_text().split() if (folder / "cgroup.controllers").is_file() else []
    missing = [controller for controller in ("memory", "pids") if controller not in available]
    if missing:
        return f"{where} offers no {' or '.join(missing)} controller"
    writable = [folder, folder / "cgroup.procs", folder / "cgroup.subtree_control"]
    if not all(os.access(path, os.W_OK) for path in writable):
        return (f"{where} is not delegated to you (start the grader with systemd-run --user --scope -p Delegate=yes)"
                if delegated else f"{where} is not writable")
    controllers = tuple(controller for controller in CONTROLLERS if controller in available)
    why = (f"{'the delegated subtree ' + where if delegated else 'root, in ' + str(root / parent)}, with "
           + " ".join(controllers) + (" (no cpu controller: no CPU share)" if "cpu" not in controllers else ""))
    return Way("cgroup-v2", why, str(root), parent, controllers, delegated)


def _own_cgroup() -> str:
    """This process's cgroup v2 group, from ``/proc/self/cgroup`` (the line ``0::/path``)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            return line[3:]
    return "/"


_PREPARED: set[str] = set()


def _prepare_v2(way: Way) -> None:
    """Once per process: enable the controllers for the submissions' groups; in a delegated
    subtree, first move the grader's processes into a leaf of their own (a group whose children
    have controllers may hold no process itself)."""
    folder = Path(way.v2_root) / way.v2_parent
    if str(folder) in _PREPARED:
        return
    enable = " ".join(f"+{controller}" for controller in way.v2_controllers)
    if way.v2_delegated:
        leaf = folder / GRADER_LEAF
        leaf.mkdir(exist_ok=True)
        for pid in (folder / "cgroup.procs").read_text().split():
            try:
                (leaf / "cgroup.procs").write_text(pid)
            except OSError:  # a process that ended meanwhile
                pass
    else:
        (Path(way.v2_root) / "cgroup.subtree_control").write_text(enable)
        folder.mkdir(exist_ok=True)
    (folder / "cgroup.subtree_control").write_text(enable)
    _PREPARED.add(str(folder))
