"""A sandbox for students' kernels without Docker: bubblewrap, bounds on resources, a private tmpfs and limits.

:class:`SandboxedKernelManager` starts every kernel of a submission inside

- **bubblewrap** (``bwrap``, Debian's ``bubblewrap`` package): new user, PID, network, IPC and
  UTS namespaces, so the kernel runs as ``nobody`` with no capabilities, sees only its own
  processes, has no network at all (jupyter_client's ``ipc`` transport still works: Unix sockets
  are files) and cannot make namespaces of its own. Its file system is a read-only view of the
  system (``/usr``, Python and the course's virtual environment, the CIFAR-10 archive and cache)
  and its private mount; other students' files, the gradebook, the instructor's ``source/``, the
  grader's own code (the hidden tests) and the graded folders do not exist in there.
- a **private mount** (:class:`PrivateMount`): a tmpfs of its own, with a size and a file-count
  quota, holding a copy of the notebook's folder (where the kernel runs, at the same path), its
  ``/tmp`` and home, and its socket files. The grader never reads anything the kernel wrote there;
  it is unmounted when the kernel ends. So the kernel cannot fill the disk, leave files behind, or
  plant links for the grader to follow. The submitted weights (``trained_models/``) are read-only
  in the copy: a cell that tries to retrain and overwrite them fails, visibly. A grader without
  root runs its nbgrader process in a user and mount namespace of its own
  (:func:`grader_namespace`), where it may mount a tmpfs; the mounts vanish with the process.
- **bounds** on memory and processes per submission (:class:`Bounds`), one of three ways, chosen
  by :func:`choose`: a cgroup v1 group (:class:`CgroupV1`, root), a cgroup v2 group
  (:class:`CgroupV2`, root on a v2 machine, or a user in a delegated subtree), or a
  :class:`Watchdog` (anyone: per-process limits and a thread that samples the kernel's processes
  and kills them over a cap). Exceeding the memory cap kills the kernel, which is graded as it
  is; a fork bomb fails to fork, or is killed; cgroups also give a CPU share (cores per submission).
- **prlimit** (util-linux): CPU seconds per kernel (so per notebook), the size of any file written.

Kernels start with ``PYTHONSAFEPATH`` and the notebook's folder appended to the end of
``sys.path`` once the kernel runs: a file in a submission cannot stand in for a module the kernel
imports (``numpy.py``, ``ipykernel_launcher.py``), and nothing of the student's runs before the
grader has connected to the kernel's sockets.

The checker (:mod:`grading.checker`), which decides the scores, runs in a sandbox of the same kind
(:func:`checker_command`), with bounds of its own: it never runs a student's code, but it reads
what a student's kernel produced.

Wall-clock budgets per cell and notebook and the output cap belong to the executor
(:mod:`grading.execute`); the budget per submission to :mod:`grading.parallel`.

The grader sets :data:`SANDBOX_ENV` to a JSON :class:`Sandbox` for the nbgrader process of one
submission; without it, kernels start unconfined, as in plain ``nbgrader autograde``.
"""

from __future__ import annotations

import errno
import json
import os
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cifar10_course.training import WEIGHTS_FOLDER
from grading.kernels import IpcKernelManager

SANDBOX_ENV = "GRADING_SANDBOX"
CGROUP_ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("memory", "pids", "cpu")
WAYS = ("cgroup-v1", "cgroup-v2", "watchdog")
# A delegated cgroup v2 subtree: the grader moves itself into this leaf (a group with controllers
# enabled for its children may hold no process), and the submissions' groups go beside it.
GRADER_LEAF = "grading-grader"
# How often the watchdog looks at a kernel's processes. A memory cap can be overshot by what the
# kernel allocates in one interval (about 0.1 s), or longer on a machine too busy to run it.
SAMPLE_SECONDS = 0.1
# What a kernel may read besides Python: the dynamic loader's cache, users and groups (Python
# looks up its user), time zones and fonts (Matplotlib).
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/localtime", "/etc/fonts")
# Environment variables a kernel keeps (bwrap starts from an empty environment).
KEPT_VARIABLES = ("COURSE_MODE", "COURSE_SEED", "CIFAR10_PATH", "CIFAR10_CACHE_DIR", "NBGRADER_EXECUTION",
                  "TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS", "LANG", "LC_ALL")
# The notebook's folder goes last on sys.path, after everything the kernel itself imports.
APPEND_CWD = "--IPKernelApp.exec_lines=['__import__(\"sys\").path.append(__import__(\"os\").getcwd())']"
# The owner of a kernel's socket folder once the kernel is up: a user the kernel is not (inside its
# user namespace the kernel is root's uid, and owns whatever root owns), so it can no longer change
# the folder, having no capabilities.
LOCKED_OWNER = 65533
# Where Keras 3 (3.15) keeps the CIFAR-10 archive it downloads, below $KERAS_HOME/datasets:
# get_file(fname="cifar-10-batches-py-target", extract=True) in keras/src/datasets/cifar10.py.
KERAS_CIFAR10_ARCHIVE = "cifar-10-batches-py-target_archive"


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


@dataclass
class Sandbox:
    """One submission's sandbox: its bounds, limits and what its kernels may read."""

    group: dict  # the kernels' bounds (Bounds.to_dict())
    limits: Limits = field(default_factory=Limits)
    read_only: list[str] = field(default_factory=list)  # extra paths to show read-only (the data)
    checker_group: dict | None = None  # the checker's bounds
    mounts: str | None = None  # the folder of the submission's private mounts (see mounts_folder)

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls, text: str) -> Sandbox:
        data = json.loads(text)
        return cls(data["group"], Limits(**data["limits"]), data["read_only"], data.get("checker_group"),
                   data.get("mounts"))

    def kernels(self) -> Bounds:
        return bounds(self.group)

    def checker(self) -> Bounds | None:
        return bounds(self.checker_group) if self.checker_group else None


def current() -> Sandbox | None:
    """The sandbox this nbgrader process grades in, or None outside one."""
    text = os.environ.get(SANDBOX_ENV)
    return Sandbox.from_env(text) if text else None


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot be set up on this machine; the message says why and what to install."""


def problems(way: str = "auto") -> list[str]:
    """Why the sandbox cannot run here with limits enforced the ``way`` asked for (one of
    :data:`WAYS`, or ``auto``); empty when it can. Each problem says what to do about it."""
    found = []
    tools = {"bwrap": "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)",
             "prlimit": "prlimit is missing (Debian/Ubuntu: apt-get install util-linux)"}
    if grader_namespace():
        tools["unshare"] = "unshare is missing (Debian/Ubuntu: apt-get install util-linux)"
    found += [message for tool, message in tools.items() if shutil.which(tool) is None]
    if not found:
        found += _trial_problems()
    try:
        choose(way)
    except SandboxUnavailable as error:
        found.append(str(error))
    hidden = Path(__file__).resolve().parent
    for root in _python_roots():
        if hidden == root or root in hidden.parents:
            found.append(f"the grader's code ({hidden}, the hidden tests) lies inside {root}, which kernels can read: "
                         "install the course with `pip install -e .` (tools/setup_env.sh does) so that it stays outside")
    return found


def _trial_problems() -> list[str]:
    """Mount a tiny private tmpfs and start bubblewrap as grading will (in the grader's own
    namespace without root); what went wrong, if anything."""
    found = []
    namespace = grader_namespace()
    folder = Path(tempfile.mkdtemp(prefix="trial-", dir=_runtime_root()))
    try:
        mount = f"mount -t tmpfs -o size=1m,nr_inodes=16,mode=0700 tmpfs {shlex.quote(str(folder))}"
        trial = subprocess.run([*namespace, "sh", "-c", f"{mount} && umount {shlex.quote(str(folder))}"],
                               capture_output=True, text=True)
        if trial.returncode != 0:
            found.append(f"cannot mount a private tmpfs for a kernel ({trial.stderr.strip()}); "
                         + ("allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1; on "
                            "Ubuntu 24.04 also kernel.apparmor_restrict_unprivileged_userns=0)" if namespace
                            else "run the grader as root, or as an ordinary user"))
    finally:
        folder.rmdir()
    trial = subprocess.run([*namespace, "bwrap", *_namespaces(), "--ro-bind", "/", "/", "true"],
                           capture_output=True, text=True)
    if trial.returncode != 0:
        found.append("bubblewrap cannot create namespaces here (" + trial.stderr.strip()
                     + "); run as root or allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)")
    return found


def grader_namespace() -> list[str]:
    """The command prefix under which a grader without root runs each submission's nbgrader
    process: a user and mount namespace of its own (util-linux ``unshare``), in which it is root
    over nothing but those namespaces and may mount the kernels' private tmpfs. Empty for root."""
    return [] if os.geteuid() == 0 else ["unshare", "--user", "--map-root-user", "--mount", "--"]


def _namespaces() -> list[str]:
    # --unshare-user with --uid: root inside is mapped away, so the kernel keeps no capability
    # over the files it sees; --disable-userns: no nested namespace to regain them.
    return ["--unshare-all", "--unshare-user", "--uid", "65534", "--gid", "65534", "--disable-userns",
            "--cap-drop", "ALL", "--die-with-parent", "--new-session"]


def _python_roots() -> list[Path]:
    return sorted({Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(sys.executable).resolve().parents[1]})


# -- how limits are enforced ------------------------------------------------------------------------

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


def bounds(data: dict) -> Bounds:
    """The bounds that :meth:`Bounds.to_dict` described."""
    data = dict(data)
    kind = {"cgroup-v1": CgroupV1, "cgroup-v2": CgroupV2, "watchdog": Watchdog}[data.pop("way")]
    return kind(**data)  # each one's attributes are its constructor's arguments


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
            _Sampler(pid, lambda processes: _Record(self.record).peak(int((folder / "memory.current").read_text()))).start()

    def counters(self) -> dict[str, int]:
        folder = Path(self.folder)
        peak = folder / "memory.peak"
        return {
            "memory_kills": _field(_read(folder / "memory.events"), "oom_kill"),
            "refused_forks": _field(_read(folder / "pids.events"), "max"),
            "peak_memory_mb": (int(peak.read_text()) // 2**20 if peak.exists()
                               else _Record(self.record).read().get("peak_memory_mb", 0) if self.record else 0),
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



class Watchdog(Bounds):
    """Bounds without any cgroup, for a grader that may create none.

    - ``prlimit --nproc`` inside bubblewrap caps the kernel's processes and threads. Linux counts
      them per user namespace, so the cap covers the kernel's own tree exactly; it binds only where
      the grader is not root (root's processes are exempt from RLIMIT_NPROC, in any namespace).
    - a thread of the process that started the kernel (:class:`_Sampler`) looks at the kernel's
      processes every :data:`SAMPLE_SECONDS` (the tree below the process it started, read from
      ``/proc``) and kills the whole tree when their resident memory exceeds the cap (counting
      pages that forked copies share once), or when they are more than the process cap (the only
      process cap for a root grader). Killing the first process of the kernel's PID namespace
      takes every other one with it at once, a fork bomb's too.

    What it did goes into a small JSON file (:class:`_Record`) that :meth:`counters` reads, with a
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
        _Record(str(record)).write({"memory_kills": 0, "refused_forks": 0, "process_kills": 0, "peak_memory_mb": 0})
        return cls(str(record), memory_mb, limits.processes, os.geteuid() != 0, own_process)

    def inside(self, command: list[str]) -> list[str]:
        return ["prlimit", f"--nproc={self.processes}", "--", *command]

    def started(self, pid: int) -> None:
        if self.own_process:
            self._watch_one(pid)
            return
        record, cap, lock = _Record(self.record), self.memory_mb * 2**20, threading.Lock()
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
        _Sampler(pid, count, limit=self.processes).start()
        _Sampler(pid, measure).start()

    def _watch_one(self, pid: int) -> None:
        """Sample one process's own resident memory and kill it over the cap (its children are
        in bounds of their own)."""
        record, cap = _Record(self.record), self.memory_mb * 2**20

        def measure(processes: list[_Process]) -> bool:
            memory = processes[0].resident
            record.peak(memory)
            if memory > cap:
                record.add("memory_kills")
                return True
            return False

        _Sampler(pid, measure, limit=0, kill_only_first=True).start()

    def counters(self) -> dict[str, int]:
        return _Record(self.record).read()

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


class _Record:
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


class _Sampler(threading.Thread):
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


class PrivateMount:
    """A kernel's own tmpfs, with a size and a file-count quota: ``work`` (a copy of the
    notebook's folder), ``tmp`` and ``ipc`` (its connection file and sockets).

    Mounted by the grader (root, or root of its own namespaces: :func:`grader_namespace`) and
    unmounted when the kernel ends, so nothing the kernel wrote is ever read or walked by the grader.
    """

    def __init__(self, root: Path):
        self.root = root
        self.work, self.tmp, self.ipc = root / "work", root / "tmp", root / "ipc"

    @classmethod
    def create(cls, limits: Limits, source: Path | None = None, folder: Path | None = None) -> PrivateMount:
        root = Path(tempfile.mkdtemp(prefix="k-", dir=folder or _runtime_root()))
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={limits.disk_mb}m,nr_inodes={limits.files},mode=0700",
                        "tmpfs", str(root)], check=True, capture_output=True)
        mount = cls(root)
        for folder in (mount.work, mount.tmp, mount.ipc):
            folder.mkdir()
        if source is not None:
            from grading.staging import copy_folder

            copy_folder(source, mount.work)
        return mount

    def remove(self) -> None:
        if os.path.ismount(self.root):  # outside the grader's own namespace it is an empty folder
            subprocess.run(["umount", "-l", str(self.root)], capture_output=True)
        try:
            self.root.rmdir()
        except OSError:
            pass


class SandboxedKernelManager(IpcKernelManager):
    """Starts kernels inside the sandbox described by :data:`SANDBOX_ENV`, if set.

    Each kernel gets a :class:`PrivateMount` for its working copy, connection file and sockets;
    nothing of the grader's runtime folder is visible to it.
    """

    private: PrivateMount | None = None

    async def _async_pre_start_kernel(self, **kw):  # start_kernel calls this one by name
        sandbox = current()
        if sandbox is not None:
            cwd = Path(kw.get("cwd") or os.getcwd()).resolve()
            self.private = PrivateMount.create(sandbox.limits, source=cwd,
                                               folder=Path(sandbox.mounts) if sandbox.mounts else None)
            self.ip = str(self.private.ipc / "k")
            self.connection_file = str(self.private.ipc / "kernel.json")
            self.start_counters = sandbox.kernels().counters()
        return await super()._async_pre_start_kernel(**kw)

    async def _async_post_start_kernel(self, **kw) -> None:  # start_kernel calls this one by name
        sandbox = current()
        process = getattr(self.provisioner, "process", None)
        if sandbox is not None and process is not None:
            sandbox.kernels().started(process.pid)  # before any of the student's code can run
        await super()._async_post_start_kernel(**kw)

    def lock_sockets(self) -> None:
        if self.private is None:
            return
        try:
            os.chown(self.private.ipc, LOCKED_OWNER, LOCKED_OWNER)
        except OSError as error:
            # A grader without root has one uid in its namespace (its own): the folder stays the
            # kernel's, which can only rebind its own sockets (README: "The sandbox").
            if error.errno in (errno.EINVAL, errno.EPERM):
                return
            raise
        os.chmod(self.private.ipc, 0o755)

    def format_kernel_cmd(self, extra_arguments=None) -> list[str]:
        command = super().format_kernel_cmd(extra_arguments)
        sandbox = current()
        if sandbox is None:
            return command
        cwd = Path(self._launch_args.get("cwd") or os.getcwd()).resolve()
        binds = [(self.private.work, cwd, True), (self.private.ipc, self.private.ipc, True)]
        if (self.private.work / WEIGHTS_FOLDER).is_dir():
            # The submitted weights, read-only (a mount the kernel cannot move or undo): a cell that
            # retrains and saves over them while grading fails, and the grader records it.
            binds.append((self.private.work / WEIGHTS_FOLDER, cwd / WEIGHTS_FOLDER, False))
        env = self._launch_args.get("env") or os.environ
        archive = Path(env.get("CIFAR10_PATH") or "/nonexistent")
        if archive.name.endswith(".tar.gz") and archive.is_file():
            # keras.datasets.cifar10.load_data() finds the instructor's copy where it keeps its
            # download, and checks its hash as usual: no network needed for an identical archive.
            binds.append((archive.resolve(), Path("/tmp/keras/datasets") / KERAS_CIFAR10_ARCHIVE, False))
        variables = {name: env[name] for name in KEPT_VARIABLES if env.get(name)}
        variables.update(HOME="/tmp/home", KERAS_HOME="/tmp/keras", MPLCONFIGDIR="/tmp/matplotlib",
                         PYTHONSAFEPATH="1", JPY_PARENT_PID="1")  # ipykernel watches its parent: bwrap's pid 1
        # CPU: SIGXCPU at the soft limit (so the death can be named), SIGKILL 5 s later at the hard one.
        cpu = sandbox.limits.cpu_seconds
        group = sandbox.kernels()
        return group.launch(["prlimit", f"--cpu={cpu}:{cpu + 5}", f"--fsize={sandbox.limits.file_mb * 2**20}", "--core=0",
                             "--", *bubblewrap(binds, sandbox.read_only, variables, cwd, tmp=self.private.tmp), "--",
                             *group.inside([*command, APPEND_CWD])])

    async def interrupt_kernel(self) -> None:
        # A SIGINT would reach bubblewrap, not the kernel, and end both: interrupt by message.
        if current() is not None and self.has_kernel:
            self._connect_control_socket()
            self.session.send(self._control_socket, self.session.msg("interrupt_request", content={}))
            return
        await super().interrupt_kernel()

    def death_reason(self) -> str:
        """Why the kernel died, as the student should read it."""
        sandbox = current()
        process = getattr(self.provisioner, "process", None)
        code = process.poll() if process is not None else None
        if sandbox is not None:
            now, before, limits = sandbox.kernels().counters(), self.start_counters, sandbox.limits
            if now.get("memory_kills", 0) > before.get("memory_kills", 0):
                return (f"it ran out of memory: a submission may use at most {limits.memory_mb:,} MB "
                        "(look for data copied many times, or a list or array that keeps growing)")
            if now.get("process_kills", 0) > before.get("process_kills", 0):
                return (f"it ran more than {limits.processes} processes and threads at once, the most a submission may "
                        "run (look for a loop that starts processes)")
            if code in (128 + signal.SIGXCPU, -signal.SIGXCPU):
                return f"it used more than {limits.cpu_seconds} s of CPU time in one notebook"
        return f"the kernel process ended with exit code {code}" if code is not None else "the kernel stopped answering"

    async def cleanup_resources(self, restart: bool = False) -> None:
        await super().cleanup_resources(restart=restart)
        sandbox = current()
        if sandbox is not None and not restart:
            # The next kernel of the submission starts with nothing of this one left: no process, no file.
            sandbox.kernels().kill_all()
        if self.private is not None and not restart:
            self.private.remove()
            self.private = None


def _runtime_path() -> Path:
    uid = os.getuid()
    return Path(tempfile.gettempdir()) / ("grading-kernels" if uid == 0 else f"grading-kernels-{uid}")


def tidy_runtime_root() -> None:
    """Remove the folder of private mounts once nothing is left in it (another grading may still use it)."""
    try:
        _runtime_path().rmdir()
    except OSError:
        pass


def _runtime_root() -> Path:
    """Where private mounts go: short (a Unix socket path holds at most 107 bytes), this user's
    only. A name in the shared /tmp that another user made first, or a link, is refused."""
    uid = os.getuid()
    root = _runtime_path()
    try:
        root.mkdir(mode=0o700)
    except FileExistsError:
        pass
    info = os.lstat(root)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != uid or info.st_mode & 0o077:
        raise SandboxUnavailable(f"{root} is not a folder of this user's alone (a link, another user's, or open to "
                                 "others): remove it")
    return root


def mounts_folder() -> Path:
    """A folder for one submission's private mounts (and its watchdog's counters), so that
    :func:`remove_mounts` can find every one of them after its grading process ended, however it ended."""
    return Path(tempfile.mkdtemp(prefix="s-", dir=_runtime_root()))


def remove_mounts(folder: Path) -> None:
    """Unmount and remove every private mount in ``folder``, and anything else left there, then the folder."""
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            PrivateMount(entry).remove()
        else:
            entry.unlink()
    folder.rmdir()


def bubblewrap(binds: list[tuple[Path, Path, bool]], read_only: list[str], variables: dict, cwd: Path,
               tmp: Path | int) -> list[str]:
    """The ``bwrap`` command line (without the command it runs): the system, Python and
    ``read_only`` paths read-only, ``binds`` as ``(source, target, writable)``, only ``variables``
    in the environment, starting in ``cwd``; ``/tmp`` is the folder ``tmp``, or a fresh tmpfs of
    ``tmp`` MB."""
    args = ["bwrap", *_namespaces(), "--clearenv", "--proc", "/proc", "--dev", "/dev", "--ro-bind", "/usr", "/usr"]
    # /tmp before everything else: Python, the course or the submission may lie below /tmp, and a
    # later mount hides what an earlier one put below it.
    if isinstance(tmp, Path):
        args += ["--bind", str(tmp), "/tmp"]
    else:
        args += ["--size", str(tmp * 2**20), "--tmpfs", "/tmp"]
    for link in ("bin", "lib", "lib64", "sbin"):
        target = Path("/") / link
        if target.is_symlink():
            args += ["--symlink", os.readlink(target), str(target)]
        elif target.exists():
            args += ["--ro-bind", str(target), str(target)]
    for path in [*SYSTEM_FILES, *map(str, _python_roots()), *read_only]:
        if Path(path).exists():
            args += ["--ro-bind", str(Path(path).resolve()), str(Path(path).resolve())]
    if Path(sys.prefix) != Path(sys.prefix).resolve():
        args += ["--symlink", str(Path(sys.prefix).resolve()), sys.prefix]
    for source, target, writable in binds:
        args += ["--bind" if writable else "--ro-bind", str(source), str(target)]
    args += ["--dir", "/tmp/home", "--chdir", str(cwd)]
    variables = {**variables, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    for name, value in variables.items():
        args += ["--setenv", name, value]
    return args


def checker_command(sandbox: Sandbox, arguments: list[str], read_only: list[Path], env: dict) -> list[str]:
    """The command that starts the checker (``python -I -m grading.checker ARGUMENTS``) in its own
    bounds and a sandbox like a kernel's: the grader's code and the course package, ``read_only``
    (the data, the executor's records, the graded submission) and a private ``/tmp``, no network."""
    import cifar10_course

    code = [Path(__file__).resolve().parent, Path(cifar10_course.__file__).resolve().parent]
    variables = {name: env[name] for name in ("CIFAR10_CACHE_DIR", "TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS",
                                              "LANG", "LC_ALL") if env.get(name)}
    variables.update(HOME="/tmp/home", KERAS_HOME="/tmp/keras", MPLCONFIGDIR="/tmp/matplotlib")
    args = bubblewrap([], [*map(str, code), *map(str, read_only), *sandbox.read_only], variables, Path("/tmp"), tmp=512)
    # -I: nothing from the environment or the working folder decides what the checker imports; the
    # grader and the course package are found where they are (installed or not, as on a hub).
    start = (f"import sys, runpy; sys.path[:0] = {[str(folder.parent) for folder in code]!r}; "
             "runpy.run_module('grading.checker', run_name='__main__', alter_sys=True)")
    command = ["prlimit", f"--fsize={sandbox.limits.file_mb * 2**20}", "--core=0", "--", *args, "--",
               sys.executable, "-I", "-c", start, *arguments]
    group = sandbox.checker()  # verdicts.Checker tells it the pid it started
    return group.launch(command) if group is not None else command
