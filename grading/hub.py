"""The course on a JupyterHub on this machine, set up and started with one command (as root).

    python -m grading.hub [--root /opt/cifar10-hub] [--port 8000] [--mode full] [--setup-only]

``tools/hub.sh`` runs it with the course's environment. It follows nbgrader's documented
JupyterHub set-up (one course, one exchange, the instructor grades from their own account) and the
trial in ``../shared/docs/jupyterhub-notes.md``, whose pitfalls each have a line here:

- **Python and the proxy.** A virtual environment in ``ROOT/venv`` built from Debian's
  ``/usr/bin/python3.11`` (a venv of a Python under root's home is unusable by other users), with
  the students' pinned packages and JupyterHub (``hub/requirements.txt``); configurable-http-proxy
  from npm in ``ROOT/proxy``. Both pinned, both installed again only when their pins change.
- **Accounts.** The instructor and the students are system users (PAM logs them in with their
  passwords), their homes private (``useradd -m`` makes them readable by everybody).
- **The exchange**, ``ROOT/exchange``, root's, mode 1777, as nbgrader's documentation sets it up.
- **The course** is a copy of this repository's course files in the instructor's home
  (``~instructor/cifar10-course``): students never see ``source/`` or the grader.
- **The data**: the CIFAR-10 archive and its decoded arrays in ``ROOT/data``, readable by every
  user, read by every notebook through ``CIFAR10_PATH`` and ``CIFAR10_CACHE_DIR``.
- **Who sees what**: every server gets a Jupyter config folder of its role (``ROOT/config/student``
  or ``ROOT/config/instructor``) through ``JUPYTER_CONFIG_PATH``. Students get the Assignments panel
  and Validate, with the grader's own Validate settings, and neither the formgrader nor the
  "Create Assignment" tools (server extension off, lab plugins disabled and locked). The
  instructor gets the formgrader, whose Autograde button grades in the sandbox
  (:mod:`grading.formgrader`).

The hub itself runs as root (JupyterHub's ``LocalProcessSpawner`` starts each user's server as that
user); each user's server, kernels and grading run as that user, never as root.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grading import course as c

HUB_FILES = c.REPO / "hub"  # the templates: hub config, role configs, the hub's requirements
DEBIAN_PYTHON = "/usr/bin/python3.11"
PROXY_PACKAGE = "configurable-http-proxy@5.3.0"
COURSE_FOLDER = "cifar10-course"  # in the instructor's home
# What the instructor's copy of the course holds: what grading and the formgrader need.
COURSE_FILES = ("nbgrader_config.py", "source", "grading", "pyproject.toml", "requirements.txt")


@dataclass
class Hub:
    """Where the hub lives and who uses it; saved as ``ROOT/hub.json`` for the hub's config."""

    root: str = "/opt/cifar10-hub"
    port: int = 8000
    ip: str = "127.0.0.1"  # a real course puts the hub behind HTTPS: see the README
    instructor: str = "instructor"
    students: list[str] = field(default_factory=lambda: ["demo_ada", "demo_ben"])
    mode: str = "full"  # COURSE_MODE of every server: "fast" for trials and tests
    course_id: str = "cifar10-keras"
    notebooks: list[str] = field(default_factory=lambda: list(c.NOTEBOOKS))

    @property
    def path(self) -> Path:
        return Path(self.root)

    @property
    def venv(self) -> Path:
        return self.path / "venv"

    @property
    def course(self) -> Path:
        return Path(os.path.expanduser(f"~{self.instructor}")) / COURSE_FOLDER

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{self.port}"

    def save(self) -> None:
        (self.path / "hub.json").write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, root: str | Path) -> Hub:
        return cls(**json.loads((Path(root) / "hub.json").read_text()))


def run(*command: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=True, **kw)


def _changed(stamp: Path, wanted: str) -> bool:
    return not stamp.exists() or stamp.read_text() != wanted


def install_python(hub: Hub) -> None:
    """The hub's, the students' and the instructor's Python: Debian's, usable by every user."""
    requirements = (HUB_FILES / "requirements.txt").read_text()
    included = [(HUB_FILES / line.split()[1]).read_text() for line in requirements.splitlines() if line.startswith("-r ")]
    wanted = hashlib.sha256("".join([requirements, *included]).encode()).hexdigest()
    stamp = hub.venv / ".installed-from"
    if not (hub.venv / "bin/python").exists():
        run(DEBIAN_PYTHON, "-m", "venv", str(hub.venv))
    if _changed(stamp, wanted):
        print(f"hub: installing the pinned packages into {hub.venv} (a few minutes the first time)", flush=True)
        run(str(hub.venv / "bin/python"), "-m", "pip", "install", "--quiet", "-r", str(HUB_FILES / "requirements.txt"))
        stamp.write_text(wanted)


def install_proxy(hub: Hub) -> Path:
    proxy = hub.path / "proxy"
    command = proxy / "node_modules/.bin/configurable-http-proxy"
    if _changed(proxy / ".installed-from", PROXY_PACKAGE) or not command.exists():
        print(f"hub: installing {PROXY_PACKAGE} from npm", flush=True)
        proxy.mkdir(exist_ok=True)
        # npm warns EBADENGINE (a dependency asks for node 22); the proxy works on node 20.
        run("npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(proxy), PROXY_PACKAGE)
        (proxy / ".installed-from").write_text(PROXY_PACKAGE)
    return command


def install_data(hub: Hub, archive: Path) -> None:
    """The CIFAR-10 archive and its decoded arrays, where every user can read them."""
    data = hub.path / "data"
    data.mkdir(exist_ok=True)
    target = data / archive.name
    if not target.exists() or target.stat().st_size != archive.stat().st_size:
        shutil.copyfile(archive, target)
    target.chmod(0o644)
    # Filled once here: every notebook then loads in under a second, without a 176 MB cache each.
    run(str(hub.venv / "bin/python"), "-c", "from cifar10_course import data; data.load_cifar10_arrays()",
        env={**os.environ, "PYTHONPATH": str(c.REPO / "source" / c.ASSIGNMENT), "CIFAR10_PATH": str(target),
             "CIFAR10_CACHE_DIR": str(data / "cache")})
    run("chmod", "-R", "a+rX,go-w", str(data))


def create_users(hub: Hub, passwords: dict[str, str]) -> None:
    for user in [hub.instructor, *hub.students]:
        if subprocess.run(["id", user], capture_output=True).returncode != 0:
            run("useradd", "--create-home", "--shell", "/bin/bash", user)
        home = Path(os.path.expanduser(f"~{user}"))
        home.chmod(0o700)  # useradd makes homes readable by everybody: students could read the course
    run("chpasswd", input="".join(f"{user}:{password}\n" for user, password in passwords.items()), text=True)


def create_exchange(hub: Hub) -> Path:
    exchange = hub.path / "exchange"
    exchange.mkdir(exist_ok=True)
    exchange.chmod(0o1777)  # nbgrader's documented set-up; it makes inbound/ 2733 itself
    return exchange


def reset_course(hub: Hub) -> None:
    """Start the course afresh: the instructor's copy (gradebook, submissions, feedback), everything
    in the exchange and the assignment in the students' homes go."""
    for folder in [hub.course, hub.path / "exchange",
                   *(Path(os.path.expanduser(f"~{student}")) / c.ASSIGNMENT for student in hub.students)]:
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder)


def copy_course(hub: Hub) -> None:
    """The course files, into the instructor's home, owned by the instructor. An existing course is
    kept: it holds the instructor's gradebook and the students' work."""
    if hub.course.exists():
        return
    hub.course.mkdir()
    for name in COURSE_FILES:
        source = c.REPO / name
        if source.is_dir():
            shutil.copytree(source, hub.course / name, ignore=shutil.ignore_patterns(
                "__pycache__", "*.egg-info", "trained_models", "saved_models", ".ipynb_checkpoints"))
        else:
            shutil.copy(source, hub.course / name)
    for extra in set(c.NOTEBOOKS) - set(hub.notebooks):
        (hub.course / "source" / c.ASSIGNMENT / f"{extra}.ipynb").unlink()
    run("chown", "-R", f"{hub.instructor}:", str(hub.course))


def write_config(hub: Hub) -> None:
    """The hub's config and the two roles' Jupyter config folders, from ``hub/``."""
    shutil.copy(HUB_FILES / "jupyterhub_config.py", hub.path / "jupyterhub_config.py")
    config = hub.path / "config"
    if config.exists():
        shutil.rmtree(config)
    shutil.copytree(HUB_FILES / "config", config)
    settings = {"course_id": hub.course_id, "exchange": str(hub.path / "exchange")}
    (config / "student" / "course.json").write_text(json.dumps(settings))
    (config / "instructor" / "course.json").write_text(json.dumps({**settings, "root": str(hub.course)}))
    # Validate on the hub judges with the grader's own settings (timeouts, the stderr filter): the
    # assignment's shared settings, loaded by the students' nbgrader_config.py.
    shutil.copy(c.REPO / "source" / c.ASSIGNMENT / "nbgrader_config.py", config / "student" / "grading_settings.py")
    run("chmod", "-R", "a+rX,go-w", str(config))


def setup(hub: Hub, archive: Path, passwords: dict[str, str], reset: bool = False) -> None:
    if os.geteuid() != 0:
        raise SystemExit("grading.hub: run as root (it creates users and starts their servers as them)")
    for tool in ("useradd", "chpasswd", "npm", DEBIAN_PYTHON):
        if shutil.which(tool) is None:
            raise SystemExit(f"grading.hub: {tool} is missing (Debian/Ubuntu: apt-get install "
                             + {"npm": "npm", DEBIAN_PYTHON: "python3.11-venv"}.get(tool, "passwd") + ")")
    hub.path.mkdir(parents=True, exist_ok=True)
    hub.path.chmod(0o755)
    (hub.path / "state").mkdir(mode=0o700, exist_ok=True)
    install_python(hub)
    install_proxy(hub)
    install_data(hub, archive)
    create_users(hub, passwords)
    if reset:
        reset_course(hub)
    create_exchange(hub)
    copy_course(hub)
    write_config(hub)
    hub.save()


def start(hub: Hub, **popen) -> subprocess.Popen:
    """Start the hub (as root) in ``ROOT/state``; returns its process."""
    env = {**os.environ, "PATH": f"{hub.venv / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
           "CIFAR10_HUB_ROOT": hub.root}
    return subprocess.Popen([str(hub.venv / "bin/jupyterhub"), "-f", str(hub.path / "jupyterhub_config.py")],
                            cwd=hub.path / "state", env=env, **popen)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading.hub", description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=Hub.root, help="where the hub's files go (default: %(default)s)")
    parser.add_argument("--port", type=int, default=Hub.port)
    parser.add_argument("--ip", default=Hub.ip, help="address to listen on (default: %(default)s, this machine only)")
    parser.add_argument("--instructor", default=Hub.instructor)
    parser.add_argument("--students", default="demo_ada,demo_ben", help="comma-separated user names")
    parser.add_argument("--mode", choices=("fast", "full"), default="full", help="COURSE_MODE of every notebook")
    parser.add_argument("--password", help="one password for every account (default: a new one each, printed)")
    parser.add_argument("--notebooks", default=",".join(c.NOTEBOOKS), help="the assignment's notebooks (default: all six)")
    parser.add_argument("--reset", action="store_true",
                        help="start the course afresh: DELETES the instructor's copy (gradebook, submissions, feedback), "
                        "the exchange and the assignment in the students' homes")
    parser.add_argument("--setup-only", action="store_true", help="set up, do not start the hub")
    args = parser.parse_args(argv)
    hub = Hub(root=str(Path(args.root).resolve()), port=args.port, ip=args.ip, instructor=args.instructor,
              students=[s for s in args.students.split(",") if s], mode=args.mode,
              notebooks=[n for n in args.notebooks.split(",") if n])
    archive = os.environ.get("CIFAR10_PATH")
    if not archive or not Path(archive).is_file():
        raise SystemExit("grading.hub: set CIFAR10_PATH to the cifar-10-python.tar.gz to serve (tools/hub.sh does)")
    passwords = {user: args.password or secrets.token_urlsafe(12) for user in [hub.instructor, *hub.students]}
    setup(hub, Path(archive), passwords, reset=args.reset)
    print(f"hub: set up in {hub.root}; course in {hub.course}; exchange in {hub.root}/exchange")
    for user, password in passwords.items():
        print(f"  {user:<12} password {password}" + ("  (instructor: formgrader)" if user == hub.instructor else ""))
    if args.setup_only:
        return 0
    print(f"hub: starting at {hub.url} (Ctrl-C stops it)", flush=True)
    try:
        return start(hub).wait()
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
