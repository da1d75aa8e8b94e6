"""Whether the sandbox can run on this machine, checked before any submission is graded.

Grading refuses to start while there is a problem, rather than run students' code unconfined;
each problem says what to install or allow.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from grading.sandbox.bubblewrap import GRADER_CODE, namespaces, python_roots
from grading.sandbox.limits import SandboxUnavailable
from grading.sandbox.mounts import grader_namespace, runtime_root
from grading.sandbox.ways import choose


def problems(way: str = "auto") -> list[str]:
    """Why the sandbox cannot run here with limits enforced the ``way`` asked for (one of
    :data:`grading.sandbox.ways.WAYS`, or ``auto``); empty when it can. Each problem says what to
    do about it."""
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
    hidden = GRADER_CODE
    for root in python_roots():
        if hidden == root or root in hidden.parents:
            found.append(f"the grader's code ({hidden}, the hidden tests) lies inside {root}, which kernels can read: "
                         "install the course with `pip install -e .` (tools/setup_env.sh does) so that it stays outside")
    return found


def _trial_problems() -> list[str]:
    """Mount a tiny private tmpfs and start bubblewrap as grading will (in the grader's own
    namespace without root); what went wrong, if anything."""
    found = []
    namespace = grader_namespace()
    folder = Path(tempfile.mkdtemp(prefix="trial-", dir=runtime_root()))
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
    trial = subprocess.run([*namespace, "bwrap", *namespaces(), "--ro-bind", "/", "/", "true"],
                           capture_output=True, text=True)
    if trial.returncode != 0:
        found.append("bubblewrap cannot create namespaces here (" + trial.stderr.strip()
                     + "); run as root or allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)")
    return found
