"""A sandbox for students' kernels without Docker: bubblewrap, bounds on resources, a private tmpfs and limits.

:class:`SandboxedKernelManager` starts every kernel of a submission, through the kernel
provisioner :class:`SandboxProvisioner`, inside

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

One module per concern, each importing only those above it in this list:

- ``limits``: what a submission may use (:class:`Limits`), :class:`SandboxUnavailable`
- ``bounds``: the interface of the three ways (:class:`Bounds`)
- ``watchdog``: :class:`Watchdog`, and the ``/proc`` sampling that cgroup v2 also uses
- ``cgroups``: :class:`CgroupV1`, :class:`CgroupV2`
- ``ways``: which way this machine uses, and why (:class:`Way`, :func:`choose`)
- ``settings``: one submission's sandbox as text, from the grader to its nbgrader process
  (:class:`Sandbox`, :func:`current`)
- ``mounts``: private mounts and the runtime folders holding them
- ``bubblewrap``: the command lines of a kernel and of the checker
- ``preflight``: whether the sandbox can run here (:func:`problems`)
- ``kernels``: the kernel managers and the provisioner that starts their kernels
"""

from grading.sandbox.bounds import Bounds
from grading.sandbox.bubblewrap import KERAS_CIFAR10_ARCHIVE, bubblewrap, checker_command
from grading.sandbox.cgroups import CgroupV1, CgroupV2
from grading.sandbox.kernels import IpcKernelManager, SandboxedKernelManager, SandboxProvisioner
from grading.sandbox.limits import Limits, SandboxUnavailable
from grading.sandbox.mounts import PrivateMount, grader_namespace, mounts_folder, remove_mounts, tidy_runtime_root
from grading.sandbox.preflight import problems
from grading.sandbox.settings import SANDBOX_ENV, Sandbox, current
from grading.sandbox.watchdog import Watchdog
from grading.sandbox.ways import GRADER_LEAF, WAYS, Way, choose

__all__ = [
    "GRADER_LEAF", "KERAS_CIFAR10_ARCHIVE", "SANDBOX_ENV", "WAYS", "Bounds", "CgroupV1", "CgroupV2", "IpcKernelManager",
    "Limits", "PrivateMount", "Sandbox", "SandboxProvisioner", "SandboxUnavailable", "SandboxedKernelManager", "Watchdog",
    "Way", "bubblewrap", "checker_command", "choose", "current", "grader_namespace", "mounts_folder", "problems",
    "remove_mounts", "tidy_runtime_root",
]
