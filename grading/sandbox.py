"""A sandbox for students' kernels without Docker: bubblewrap, cgroups and resource limits.

:class:`SandboxedKernelManager` starts every kernel of a submission inside

- **bubblewrap** (``bwrap``, Debian's ``bubblewrap`` package): new user, PID, network, IPC and
  UTS namespaces, so the kernel runs as ``nobody`` with no capabilities, sees only its own
  processes and has no network at all (jupyter_client's ``ipc`` transport still works: Unix
  sockets are files). Its file system is a read-only view of the system (``/usr``, Python and the
  course's virtual environment, the CIFAR-10 archive and cache), the submission's own autograded
  folder (writable, except the course's helper package, which stays read-only so one notebook
  cannot rewrite the checks of the next), a private socket folder and a private ``/tmp``. Other
  students' files, the gradebook and the instructor's ``source/`` (hidden tests) do not exist in
  there.
- a **cgroup** per submission (cgroup v1 controllers ``memory``, ``pids`` and ``cpu``): a memory
  cap (exceeding it kills the kernel, which is graded as it is), a cap on processes and threads
  (a fork bomb fails to fork), and a CPU share (cores per submission);
- **prlimit** (util-linux): CPU seconds per kernel (so per notebook), the size of any file written.

Wall-clock budgets per cell and notebook and the output cap belong to the executor
(:mod:`grading.execute`); the budget per submission to :mod:`grading.parallel`.

The grader sets :data:`SANDBOX_ENV` to a JSON :class:`Sandbox` for the nbgrader process of one
submission; without it, kernels start unconfined, as in plain ``nbgrader autograde``.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grading.kernels import IpcKernelManager

SANDBOX_ENV = "GRADING_SANDBOX"
CGROUP_ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("memory", "pids", "cpu")
# What a kernel may read besides Python: the dynamic loader's cache, users and groups (Python
# looks up its user), time zones and fonts (Matplotlib).
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/localtime", "/etc/fonts")
# Environment variables a kernel keeps (bwrap starts from an empty environment).
KEPT_VARIABLES = ("COURSE_MODE", "COURSE_SEED", "CIFAR10_PATH", "CIFAR10_CACHE_DIR", "NBGRADER_EXECUTION",
                  "TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS", "LANG", "LC_ALL")


@dataclass
class Limits:
    """What one submission may use. Kernels of a submission run one after the other."""

    memory_mb: int = 6144  # the whole submission's cgroup: kernel, its children, its /tmp
    processes: int = 512  # processes and threads (TensorFlow starts dozens of threads)
    cpu_cores: float = 1.0  # CPU share of the submission
    cpu_seconds: int = 900  # CPU time of one kernel, i.e. one notebook
    file_mb: int = 512  # the largest file a kernel may write
    tmp_mb: int = 512  # the private /tmp


@dataclass
class Sandbox:
    """One submission's sandbox: its cgroup, limits and what its kernels may see."""

    cgroup: str  # path below each controller, e.g. "grading/demo_x-1a2b"
    limits: Limits = field(default_factory=Limits)
    read_only: list[str] = field(default_factory=list)  # extra paths to show read-only
    protected: list[str] = field(default_factory=list)  # names in the submission folder kept read-only

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls, text: str) -> Sandbox:
        data = json.loads(text)
        return cls(data["cgroup"], Limits(**data["limits"]), data["read_only"], data["protected"])


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot be set up on this machine; the message says why and what to install."""


def problems() -> list[str]:
    """Why the sandbox cannot run here (empty when it can), each with what to do about it."""
    found = []
    if shutil.which("bwrap") is None:
        found.append("bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)")
    if shutil.which("prlimit") is None:
        found.append("prlimit is missing (Debian/Ubuntu: apt-get install util-linux)")
    if not found:
        trial = subprocess.run(["bwrap", *_namespaces(), "--ro-bind", "/", "/", "true"], capture_output=True, text=True)
        if trial.returncode != 0:
            found.append("bubblewrap cannot create namespaces here (" + trial.stderr.strip()
                         + "); run as root or allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)")
    for controller in CONTROLLERS:
        folder = CGROUP_ROOT / controller
        if not (folder / "cgroup.procs").exists():
            found.append(f"the cgroup v1 '{controller}' controller is not mounted at {folder} (cgroup v2-only "
                         "machines are not supported yet)")
            continue
        trial = folder / f"grading-check-{uuid.uuid4().hex[:8]}"
        try:
            trial.mkdir(parents=True)
            trial.rmdir()
        except OSError as error:
            found.append(f"cannot create a cgroup under {folder} ({error.strerror}); run the grader as root")
    return found


def _namespaces() -> list[str]:
    # --unshare-user with --uid: root inside is mapped away, so the kernel keeps no capability
    # over the files it sees; --disable-userns: no nested namespace to regain them.
    return ["--unshare-all", "--unshare-user", "--uid", "65534", "--gid", "65534", "--disable-userns",
            "--cap-drop", "ALL", "--die-with-parent", "--new-session"]


class Cgroup:
    """A cgroup v1 group of the same path under the memory, pids and cpu controllers."""

    def __init__(self, path: str):
        self.path = path
        self.folders = {controller: CGROUP_ROOT / controller / path for controller in CONTROLLERS}

    @classmethod
    def create(cls, name: str, limits: Limits) -> Cgroup:
        group = cls(f"grading/{name}-{uuid.uuid4().hex[:8]}")
        for folder in group.folders.values():
            folder.mkdir(parents=True)
        memory = group.folders["memory"]
        (memory / "memory.limit_in_bytes").write_text(str(limits.memory_mb * 2**20))
        if (memory / "memory.memsw.limit_in_bytes").exists():  # swap counts too, where there is swap
            (memory / "memory.memsw.limit_in_bytes").write_text(str(limits.memory_mb * 2**20))
        (group.folders["pids"] / "pids.max").write_text(str(limits.processes))
        period = 100_000
        (group.folders["cpu"] / "cpu.cfs_period_us").write_text(str(period))
        (group.folders["cpu"] / "cpu.cfs_quota_us").write_text(str(int(limits.cpu_cores * period)))
        return group

    def join_command(self) -> str:
        """Shell words that move the shell running them into this group."""
        return "; ".join(f"echo $$ > {shlex.quote(str(folder / 'cgroup.procs'))}" for folder in self.folders.values())

    def counters(self) -> dict[str, int]:
        """Out-of-memory kills, refused forks and the peak memory (MB) so far."""
        oom = (self.folders["memory"] / "memory.oom_control").read_text()
        events = (self.folders["pids"] / "pids.events").read_text()
        return {
            "memory_kills": _field(oom, "oom_kill"),
            "refused_forks": _field(events, "max"),
            "peak_memory_mb": int((self.folders["memory"] / "memory.max_usage_in_bytes").read_text()) // 2**20,
        }

    def remove(self) -> None:
        """Kill whatever still runs in the group (a fork bomb's leftovers), then delete it."""
        for _ in range(50):
            pids = [int(pid) for pid in (self.folders["pids"] / "cgroup.procs").read_text().split()]
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        for folder in self.folders.values():
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # the last processes are still exiting
                    time.sleep(0.1)


def _field(text: str, name: str) -> int:
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == name:
            return int(value)
    return 0


class SandboxedKernelManager(IpcKernelManager):
    """Starts kernels inside the sandbox described by :data:`SANDBOX_ENV`, if set.

    Each kernel gets a private folder for its connection file and sockets, which is all of the
    grader's runtime folder it can see (so it cannot reach another kernel's sockets).
    """

    def _sandbox(self) -> Sandbox | None:
        text = os.environ.get(SANDBOX_ENV)
        return Sandbox.from_env(text) if text else None

    async def _async_pre_start_kernel(self, **kw):  # start_kernel calls this one by name
        sandbox = self._sandbox()
        if sandbox is not None:
            self.private_folder = Path(tempfile.mkdtemp(prefix="k-", dir=_runtime_root()))
            self.ip = str(self.private_folder / "ipc")
            self.connection_file = str(self.private_folder / "kernel.json")
            self.start_counters = Cgroup(sandbox.cgroup).counters()
        return await super()._async_pre_start_kernel(**kw)

    def format_kernel_cmd(self, extra_arguments=None) -> list[str]:
        command = super().format_kernel_cmd(extra_arguments)
        sandbox = self._sandbox()
        if sandbox is None:
            return command
        cwd = Path(self._launch_args.get("cwd") or os.getcwd()).resolve()
        # CPU: SIGXCPU at the soft limit (so the death can be named), SIGKILL 5 s later at the hard one.
        cpu = sandbox.limits.cpu_seconds
        wrapped = ["prlimit", f"--cpu={cpu}:{cpu + 5}", f"--fsize={sandbox.limits.file_mb * 2**20}",
                   "--core=0", "--", *bubblewrap(sandbox, cwd, self.private_folder, self._launch_args.get("env") or os.environ),
                   "--", *command]
        return ["sh", "-c", f"{Cgroup(sandbox.cgroup).join_command()}; exec {shlex.join(wrapped)}"]

    async def interrupt_kernel(self) -> None:
        # A SIGINT would reach bubblewrap, not the kernel, and end both: interrupt by message.
        if self._sandbox() is not None and self.has_kernel:
            self._connect_control_socket()
            self.session.send(self._control_socket, self.session.msg("interrupt_request", content={}))
            return
        await super().interrupt_kernel()

    def death_reason(self) -> str:
        """Why the kernel died, as the student should read it."""
        sandbox = self._sandbox()
        process = getattr(self.provisioner, "process", None)
        code = process.poll() if process is not None else None
        if sandbox is not None:
            now = Cgroup(sandbox.cgroup).counters()
            if now["memory_kills"] > self.start_counters["memory_kills"]:
                return (f"it ran out of memory: a submission may use at most {sandbox.limits.memory_mb:,} MB "
                        "(look for data copied many times, or a list or array that keeps growing)")
            if code in (128 + signal.SIGXCPU, -signal.SIGXCPU):
                return f"it used more than {sandbox.limits.cpu_seconds} s of CPU time in one notebook"
        return f"the kernel process ended with exit code {code}" if code is not None else "the kernel stopped answering"

    async def cleanup_resources(self, restart: bool = False) -> None:
        await super().cleanup_resources(restart=restart)
        folder = getattr(self, "private_folder", None)
        if folder is not None and not restart:
            shutil.rmtree(folder, ignore_errors=True)


def _runtime_root() -> Path:
    """Where private kernel folders go: short (a Unix socket path holds at most 107 bytes)."""
    root = Path(tempfile.gettempdir()) / "grading-kernels"
    root.mkdir(mode=0o700, exist_ok=True)
    return root


def bubblewrap(sandbox: Sandbox, cwd: Path, private_folder: Path, env: dict) -> list[str]:
    """The ``bwrap`` command line (without the kernel's own command) for one kernel."""
    args = ["bwrap", *_namespaces(), "--clearenv", "--proc", "/proc", "--dev", "/dev",
            "--size", str(sandbox.limits.tmp_mb * 2**20), "--tmpfs", "/tmp", "--ro-bind", "/usr", "/usr"]
    for link in ("bin", "lib", "lib64", "sbin"):
        target = Path("/") / link
        if target.is_symlink():
            args += ["--symlink", os.readlink(target), str(target)]
        elif target.exists():
            args += ["--ro-bind", str(target), str(target)]
    python_roots = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(sys.executable).resolve().parents[1]}
    for path in [*SYSTEM_FILES, *sorted(map(str, python_roots)), *sandbox.read_only]:
        if Path(path).exists():
            args += ["--ro-bind", str(Path(path).resolve()), str(Path(path).resolve())]
    if Path(sys.prefix) != Path(sys.prefix).resolve():
        args += ["--symlink", str(Path(sys.prefix).resolve()), sys.prefix]
    args += ["--bind", str(cwd), str(cwd)]
    for name in sandbox.protected:  # bound after the folder, so they win over its writable bind
        if (cwd / name).exists():
            args += ["--ro-bind", str(cwd / name), str(cwd / name)]
    args += ["--bind", str(private_folder), str(private_folder), "--dir", "/tmp/home", "--chdir", str(cwd)]
    variables = {name: env[name] for name in KEPT_VARIABLES if env.get(name)}
    variables.update(HOME="/tmp/home", KERAS_HOME="/tmp/keras", MPLCONFIGDIR="/tmp/matplotlib",
                     PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin",
                     JPY_PARENT_PID="1")  # ipykernel watches its parent; bwrap's is pid 1 in there
    for name, value in variables.items():
        args += ["--setenv", name, value]
    return args
