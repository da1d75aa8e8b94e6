"""The command lines that start a kernel or the checker inside bubblewrap: what the process sees,
its namespaces and environment, and the per-process limits around it.

What a sandboxed process can see and do is decided here alone, from the sandbox's settings and
this machine's Python.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cifar10_course.training import WEIGHTS_FOLDER
from grading.compat import KERAS_CIFAR10_ARCHIVE
from grading.sandbox.mounts import PrivateMount
from grading.sandbox.settings import Sandbox

# The grader's own code (grading/, holding the hidden tests), which no kernel may see.
GRADER_CODE = Path(__file__).resolve().parents[1]
# What a kernel may read besides Python: the dynamic loader's cache, users and groups (Python
# looks up its user), time zones and fonts (Matplotlib).
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/localtime", "/etc/fonts")
# Environment variables a kernel keeps (bwrap starts from an empty environment).
KEPT_VARIABLES = ("COURSE_MODE", "COURSE_SEED", "CIFAR10_PATH", "CIFAR10_CACHE_DIR", "NBGRADER_EXECUTION",
                  "TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS", "LANG", "LC_ALL")
# The notebook's folder goes last on sys.path, after everything the kernel itself imports.
APPEND_CWD = "--IPKernelApp.exec_lines=['__import__(\"sys\").path.append(__import__(\"os\").getcwd())']"


def namespaces() -> list[str]:
    # --unshare-user with --uid: root inside is mapped away, so the kernel keeps no capability
    # over the files it sees; --disable-userns: no nested namespace to regain them.
    return ["--unshare-all", "--unshare-user", "--uid", "65534", "--gid", "65534", "--disable-userns",
            "--cap-drop", "ALL", "--die-with-parent", "--new-session"]


def python_roots() -> list[Path]:
    """The folders of this Python and its environment, shown read-only to every sandboxed process."""
    return sorted({Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(sys.executable).resolve().parents[1]})


def bubblewrap(binds: list[tuple[Path, Path, bool]], read_only: list[str], variables: dict, cwd: Path,
               tmp: Path | int) -> list[str]:
    """The ``bwrap`` command line (without the command it runs): the system, Python and
    ``read_only`` paths read-only, ``binds`` as ``(source, target, writable)``, only ``variables``
    in the environment, starting in ``cwd``; ``/tmp`` is the folder ``tmp``, or a fresh tmpfs of
    ``tmp`` MB."""
    args = ["bwrap", *namespaces(), "--clearenv", "--proc", "/proc", "--dev", "/dev", "--ro-bind", "/usr", "/usr"]
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
    for path in [*SYSTEM_FILES, *map(str, python_roots()), *read_only]:
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


def kernel_command(sandbox: Sandbox, private: PrivateMount, command: list[str], cwd: Path, env: dict) -> list[str]:
    """The command that starts a kernel (``command``, jupyter_client's) in ``sandbox``: in its
    bounds, under ``prlimit``, inside bubblewrap, in ``private``'s copy of ``cwd`` (at the same
    path), with what it keeps of ``env``."""
    binds = [(private.work, cwd, True), (private.ipc, private.ipc, True)]
    if (private.work / WEIGHTS_FOLDER).is_dir():
        # The submitted weights, read-only (a mount the kernel cannot move or undo): a cell that
        # retrains and saves over them while grading fails, and the grader records it.
        binds.append((private.work / WEIGHTS_FOLDER, cwd / WEIGHTS_FOLDER, False))
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
                         "--", *bubblewrap(binds, sandbox.read_only, variables, cwd, tmp=private.tmp), "--",
                         *group.inside([*command, APPEND_CWD])])


def checker_command(sandbox: Sandbox, arguments: list[str], read_only: list[Path], env: dict) -> list[str]:
    """The command that starts the checker (``python -I -m grading.checker ARGUMENTS``) in its own
    bounds and a sandbox like a kernel's: the grader's code and the course package, ``read_only``
    (the data, the executor's records, the graded submission) and a private ``/tmp``, no network."""
    import cifar10_course

    code = [GRADER_CODE, Path(cifar10_course.__file__).resolve().parent]
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
