"""The course on a JupyterHub on this machine, set up and run with one command (as root).

    python hub/course_hub.py [--root /opt/cifar10-hub] [--port 8000] [--mode full] [--setup-only]
    python hub/course_hub.py --stop | --restart | --status | --backup | --add-student NAME[=Full Name]

``tools/hub.sh`` runs it with the course's environment. The hub runs in the background; ``--stop``
stops everything it started (every user's server, the hub, its proxy); ``--restart`` restarts the
hub alone and leaves users' servers, kernels and the proxy running (users go on working); ``--add-student`` adds an account
while the hub runs; ``--backup`` copies the gradebook. It follows nbgrader's documented
JupyterHub set-up (one course, one exchange, the instructor grades from their own account) and the
trial in ``../shared/docs/jupyterhub-notes.md``, whose pitfalls each have a line here:

- **Python and the proxy.** A virtual environment in ``ROOT/venv`` built from Debian's
  ``/usr/bin/python3.11`` (a venv of a Python under root's home is unusable by other users), with
  the students' pinned packages and JupyterHub (``hub/requirements.txt``); configurable-http-proxy
  from npm in ``ROOT/proxy``. Both pinned, both installed again only when their pins change.
- **Accounts.** The instructor and the students are system users (PAM logs them in with their
  passwords, kept across runs; their full names go to the gradebook), their homes private
  (``useradd -m`` makes them readable by everybody).
- **The exchange**, ``ROOT/exchange``, root's, mode 1777, as nbgrader's documentation sets it up
  (nbgrader checks that every user can write there), with the course's folder made for the
  instructor before any student can make it (a folder a student made first is moved aside).
- **The course** is a copy of this repository's course files in the instructor's home
  (``~instructor/cifar10-course``): students never see ``source/`` or the grader. This checkout,
  which holds every solution, is made unreadable for other users (``chmod o-rwx``).
- **Users' servers** get a memory limit and a CPU share each (``hub/limits.py``), an idle culler
  stops them after an hour without use, and a restart of the hub leaves them running.
- **Terminals** open with the course's environment (its Python, nbgrader, ``jupyter``), the
  instructor's in the course.
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
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grading import course as c

HUB_FILES = Path(__file__).resolve().parent  # this folder: the templates: hub config, role configs, the hub's requirements
DEBIAN_PYTHON = "/usr/bin/python3.11"
PROXY_PACKAGE = "configurable-http-proxy@5.3.0"
COURSE_FOLDER = "cifar10-course"  # in the instructor's home
# What the instructor's copy of the course holds: what grading and the formgrader need.
COURSE_FILES = ("nbgrader_config.py", "source", "grading", "pyproject.toml", "requirements.txt")
STOP_SECONDS = 30


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
    names: dict[str, str] = field(default_factory=dict)  # user -> full name, for the gradebook
    student_memory_mb: int = 4096  # each student's server and kernels together
    student_cpus: float = 1.0
    idle_minutes: int = 60  # a server unused this long is stopped (its work is saved by JupyterLab)

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

    @property
    def state(self) -> Path:
        return self.path / "state"

    def token(self) -> str:
        """The hub API's token of the course's admin service (root's only)."""
        path = self.state / "admin-token"
        if not path.exists():
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return path.read_text().strip()

    def proxy_token(self) -> str:
        """The token between the hub and its proxy (root's only)."""
        path = self.state / "proxy-token"
        if not path.exists():
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return path.read_text().strip()

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
    # Filled once here: every notebook then loads in under a second, without a 176 MB cache each,
    # and full-mode kernels share the scaled images' memory instead of holding 740 MB each.
    run(str(hub.venv / "bin/python"), "-c", "from cifar10_course import data; data.prepare_cache()",
        env={**os.environ, "PYTHONPATH": str(c.REPO / "source" / c.ASSIGNMENT), "CIFAR10_PATH": str(target),
             "CIFAR10_CACHE_DIR": str(data / "cache")})
    run("chmod", "-R", "a+rX,go-w", str(data))


def create_users(hub: Hub, password: str | None = None) -> dict[str, str]:
    """Create the accounts that do not exist yet, with a new password each (or ``password``, then
    set for every account); returns the passwords set. Existing accounts keep theirs."""
    passwords = {}
    for user in [hub.instructor, *hub.students]:
        if subprocess.run(["id", user], capture_output=True).returncode != 0:
            run("useradd", "--create-home", "--shell", "/bin/bash", "--comment", hub.names.get(user, user), user)
            passwords[user] = password or secrets.token_urlsafe(12)
        elif password:
            passwords[user] = password
        home = Path(os.path.expanduser(f"~{user}"))
        home.chmod(0o700)  # useradd makes homes readable by everybody: students could read the course
    if passwords:
        run("chpasswd", input="".join(f"{user}:{secret}\n" for user, secret in passwords.items()), text=True)
    return passwords


def create_exchange(hub: Hub) -> Path:
    """The exchange (1777, as nbgrader's documentation sets it up: nbgrader checks that every user
    may write there), and in it the course's folder, the instructor's, made before any student can
    make it. A course folder that is not the instructor's (a student made it first) is moved aside."""
    exchange = hub.path / "exchange"
    exchange.mkdir(exist_ok=True)
    exchange.chmod(0o1777)
    folder = exchange / hub.course_id
    instructor = pwd.getpwnam(hub.instructor)
    if folder.is_symlink() or (folder.exists() and folder.lstat().st_uid != instructor.pw_uid):
        aside = exchange / f".squatted-{hub.course_id}-{time.strftime('%Y%m%d-%H%M%S')}"
        folder.rename(aside)
        aside.chmod(0o700)
        print(f"hub: {folder} was not the instructor's (made by uid {aside.lstat().st_uid}): moved to {aside}")
    if not folder.exists():
        folder.mkdir()
        os.chown(folder, instructor.pw_uid, instructor.pw_gid)
        folder.chmod(0o755)
    return exchange


def protect_checkout() -> str | None:
    """Make this checkout unreadable for every other user (it holds every solution and the hidden
    tests, and the hub's students have accounts on this machine); what was done, if anything."""
    mode = c.REPO.stat().st_mode
    if not mode & 0o007:
        return None
    c.REPO.chmod(mode & ~0o007)
    return f"made {c.REPO} unreadable for other users (chmod o-rwx): it holds every solution and the hidden tests"


def reset_course(hub: Hub) -> None:
    """Start the course afresh: the instructor's copy (gradebook, submissions, feedback), everything
    in the exchange, the assignment in the students' homes and what their Assignments panels
    remember of it (nbgrader's cache of submissions) go."""
    homes = [Path(os.path.expanduser(f"~{student}")) for student in hub.students]
    for folder in [hub.course, hub.path / "exchange", *(home / c.ASSIGNMENT for home in homes),
                   *(home / ".local/share/jupyter/nbgrader_cache" / hub.course_id for home in homes)]:
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
    for name in ("jupyterhub_config.py", "limits.py"):
        shutil.copy(HUB_FILES / name, hub.path / name)
    config = hub.path / "config"
    if config.exists():
        shutil.rmtree(config)
    shutil.copytree(HUB_FILES / "config", config)
    settings = {"course_id": hub.course_id, "exchange": str(hub.path / "exchange")}
    (config / "student" / "course.json").write_text(json.dumps(settings))
    (config / "instructor" / "course.json").write_text(json.dumps({**settings, "root": str(hub.course)}))
    # JupyterLab's terminal is a login shell, which sets PATH anew: this one keeps the server's
    # environment, adds the course's, and opens the instructor's in the course.
    shell = config / "course-shell.sh"
    shell.write_text(f'[ -f ~/.bashrc ] && . ~/.bashrc\nexport PATH="{hub.venv / "bin"}:$PATH"\n'
                     '[ -n "$COURSE_ROOT" ] && [ "$PWD" = "$HOME" ] && cd "$COURSE_ROOT"\n')
    for role in ("student", "instructor"):
        server = config / role / "jupyter_server_config.json"
        settings = json.loads(server.read_text())
        settings["ServerApp"]["terminado_settings"] = {"shell_command": ["/bin/bash", "--rcfile", str(shell), "-i"]}
        server.write_text(json.dumps(settings, indent=2))
    # Validate on the hub judges with the grader's own settings (timeouts, the stderr filter): the
    # assignment's shared settings, loaded by the students' nbgrader_config.py.
    shutil.copy(c.REPO / "source" / c.ASSIGNMENT / "nbgrader_config.py", config / "student" / "grading_settings.py")
    run("chmod", "-R", "a+rX,go-w", str(config))


def setup(hub: Hub, archive: Path, password: str | None = None, reset: bool = False) -> dict[str, str]:
    """Set the hub up (again); returns the passwords of the accounts it made (or set)."""
    if os.geteuid() != 0:
        raise SystemExit("hub: run as root (it creates users and starts their servers as them)")
    for tool in ("useradd", "chpasswd", "npm", DEBIAN_PYTHON):
        if shutil.which(tool) is None:
            raise SystemExit(f"hub: {tool} is missing (Debian/Ubuntu: apt-get install "
                             + {"npm": "npm", DEBIAN_PYTHON: "python3.11-venv"}.get(tool, "passwd") + ")")
    protected = protect_checkout()
    if protected:
        print(f"hub: {protected}")
    hub.path.mkdir(parents=True, exist_ok=True)
    hub.path.chmod(0o755)
    hub.state.mkdir(mode=0o700, exist_ok=True)
    install_python(hub)
    install_proxy(hub)
    install_data(hub, archive)
    passwords = create_users(hub, password)
    if reset:
        reset_course(hub)
    create_exchange(hub)
    copy_course(hub)
    add_to_gradebook(hub, hub.students)
    write_config(hub)
    hub.token()
    hub.save()
    return passwords


def add_to_gradebook(hub: Hub, students: list[str]) -> None:
    """The students, with their full names, in the course's gradebook (as the instructor), so the
    formgrader shows names from the start."""
    code = ("import sys, json; from nbgrader.api import Gradebook\n"
            "with Gradebook('sqlite:///' + sys.argv[1] + '/gradebook.db', sys.argv[2]) as book:\n"
            "    for user, name in json.loads(sys.argv[3]).items():\n"
            "        first, _, last = name.partition(' ')\n"
            "        book.update_or_create_student(user, first_name=first or None, last_name=last or None)\n")
    names = {student: hub.names.get(student, "") for student in students}
    run(shutil.which("runuser") or "/usr/sbin/runuser", "-u", hub.instructor, "--", str(hub.venv / "bin/python"), "-c", code, str(hub.course), hub.course_id,
        json.dumps(names), cwd=hub.course, env={"PATH": f"{hub.venv / 'bin'}:/usr/bin:/bin", "HOME": str(hub.course)})


def running(hub: Hub, name: str = "jupyterhub") -> int | None:
    """The pid of the hub (or, with ``name="proxy"``, of its proxy) this set-up started, if it runs."""
    try:
        pid = int((hub.state / f"{name}.pid").read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    command = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    return pid if ("jupyterhub" if name == "jupyterhub" else "configurable-http-proxy") in command else None


def start_proxy(hub: Hub) -> int:
    """Start the proxy in the background, unless it runs: a process of its own, so that it goes on
    routing users to their servers while the hub restarts (students see no "server unavailable")."""
    pid = running(hub, "proxy")
    if pid is not None:
        return pid
    env = {**os.environ, "CONFIGPROXY_AUTH_TOKEN": hub.proxy_token()}
    command = [str(hub.path / "proxy/node_modules/.bin/configurable-http-proxy"), "--ip", hub.ip, "--port", str(hub.port),
               "--api-ip", "127.0.0.1", "--api-port", str(hub.port + 2), "--default-target",
               f"http://127.0.0.1:{hub.port + 1}", "--error-target", f"http://127.0.0.1:{hub.port + 1}/hub/error"]
    with open(hub.state / "proxy.log", "a") as log:
        process = subprocess.Popen(command, cwd=hub.state, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    (hub.state / "proxy.pid").write_text(str(process.pid))
    return process.pid


def start(hub: Hub) -> int:
    """Start the proxy and the hub in the background (as root, in ``ROOT/state``, their logs in
    ``proxy.log`` and ``hub.log``), unless they run already; returns the hub's pid once it answers."""
    start_proxy(hub)
    pid = running(hub)
    if pid is not None:
        return pid
    env = {**os.environ, "PATH": f"{hub.venv / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
           "CIFAR10_HUB_ROOT": hub.root}
    with open(hub.state / "hub.log", "a") as log:
        process = subprocess.Popen([str(hub.venv / "bin/jupyterhub"), "-f", str(hub.path / "jupyterhub_config.py")],
                                   cwd=hub.state, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    (hub.state / "jupyterhub.pid").write_text(str(process.pid))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"hub: the hub stopped at once; see {hub.state / 'hub.log'}")
        try:  # through the proxy: the API, and the login page students open first
            urllib.request.urlopen(f"{hub.url}/hub/api", timeout=2)
            urllib.request.urlopen(f"{hub.url}/hub/login", timeout=2)
            return process.pid
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"hub: the hub did not answer within 2 minutes; see {hub.state / 'hub.log'}")


def api(hub: Hub, method: str, path: str) -> dict | None:
    """Call the hub's REST API with the course's admin token."""
    request = urllib.request.Request(f"{hub.url}/hub/api{path}", method=method,
                                     headers={"Authorization": f"token {hub.token()}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        body = response.read()
    return json.loads(body) if body else None


def stop(hub: Hub, servers: bool = True) -> None:
    """With ``servers`` (``--stop``): every user's server, the hub, then its proxy. Without
    (``--restart``): the hub alone; users' servers go on running, the proxy goes on routing to
    them, and the next hub finds them."""
    pid = running(hub)
    if pid is None:
        if servers:
            _stop_proxy(hub)
        return
    if servers:
        for user in api(hub, "GET", "/users") or []:
            if user.get("server"):
                try:
                    api(hub, "DELETE", f"/users/{user['name']}/server")
                except OSError as error:
                    print(f"hub: could not stop {user['name']}'s server ({error})")
        deadline = time.monotonic() + STOP_SECONDS
        while time.monotonic() < deadline and any(user.get("server") for user in api(hub, "GET", "/users") or []):
            time.sleep(0.5)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    while time.monotonic() < deadline and running(hub) == pid:
        time.sleep(0.2)
    (hub.state / "jupyterhub.pid").unlink(missing_ok=True)
    if servers:
        _stop_proxy(hub)


def _stop_proxy(hub: Hub) -> None:
    pid = running(hub, "proxy")
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
    (hub.state / "proxy.pid").unlink(missing_ok=True)


def add_student(hub: Hub, user: str, name: str = "", password: str | None = None) -> str:
    """A new student while the hub runs: the account, the gradebook's record and the hub's user,
    no restart; returns the password set."""
    hub.students = sorted(set(hub.students) | {user})
    if name:
        hub.names[user] = name
    passwords = create_users(hub, password)
    add_to_gradebook(hub, [user])
    hub.save()  # the next start allows the user too
    if running(hub) is not None:
        try:
            api(hub, "POST", f"/users/{user}")
        except urllib.error.HTTPError as error:
            if error.code != 409:  # 409: the hub knows the user already
                raise
    return passwords.get(user, "(unchanged)")


def backup(hub: Hub) -> Path:
    """A copy of the course's gradebook in ``ROOT/backups`` (root's only), made with SQLite's
    online backup, so it is consistent while the formgrader writes; returns its path."""
    import sqlite3

    folder = hub.path / "backups"
    folder.mkdir(mode=0o700, exist_ok=True)
    target = folder / f"gradebook-{time.strftime('%Y%m%d-%H%M%S')}.db"
    # Read-only: a backup never creates or changes the instructor's gradebook.
    source = sqlite3.connect(f"file:{hub.course / 'gradebook.db'}?mode=ro", uri=True)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        source.close()
        copy.close()
    target.chmod(0o600)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python hub/course_hub.py", description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=Hub.root, help="where the hub's files go (default: %(default)s)")
    parser.add_argument("--port", type=int, default=Hub.port)
    parser.add_argument("--ip", default=Hub.ip, help="address to listen on (default: %(default)s, this machine only)")
    parser.add_argument("--instructor", default=Hub.instructor)
    parser.add_argument("--students", default="demo_ada=Ada Lovelace,demo_ben=Ben Bitdiddle",
                        help="comma-separated user names, each with =Full Name if you like")
    parser.add_argument("--mode", choices=("fast", "full"), default="full", help="COURSE_MODE of every notebook")
    parser.add_argument("--password", help="one password for every account, set again (default: a new one for each "
                        "new account, printed; existing accounts keep theirs)")
    parser.add_argument("--notebooks", default=",".join(c.NOTEBOOKS), help="the assignment's notebooks (default: all six)")
    parser.add_argument("--student-memory", type=int, default=Hub.student_memory_mb, help="MB for each student's server")
    parser.add_argument("--student-cpus", type=float, default=Hub.student_cpus, help="CPU share of each student's server")
    parser.add_argument("--reset", action="store_true",
                        help="start the course afresh: DELETES the instructor's copy (gradebook, submissions, feedback), "
                        "the exchange and the assignment in the students' homes")
    parser.add_argument("--setup-only", action="store_true", help="set up, do not start the hub")
    actions = parser.add_mutually_exclusive_group()
    actions.add_argument("--stop", action="store_true", help="stop every user's server, the hub and its proxy")
    actions.add_argument("--restart", action="store_true", help="restart the hub; users' servers and the proxy go on")
    actions.add_argument("--status", action="store_true", help="say whether the hub runs, and where")
    actions.add_argument("--add-student", metavar="NAME[=Full Name]", help="add a student while the hub runs")
    actions.add_argument("--backup", action="store_true", help="copy the course's gradebook to ROOT/backups")
    args = parser.parse_args(argv)
    root = str(Path(args.root).resolve())
    if args.stop or args.restart or args.status or args.add_student or args.backup:
        if not (Path(root) / "hub.json").exists():
            raise SystemExit(f"hub: no hub set up in {root}")
        hub = Hub.load(root)
        if args.status:
            pid = running(hub)
            print(f"hub: {'running at ' + hub.url + f' (pid {pid})' if pid else 'not running'}; set up in {hub.root}")
        elif args.stop:
            stop(hub, servers=True)
            print("hub: stopped (every user's server, the hub and its proxy)")
        elif args.backup:
            print(f"hub: gradebook copied to {backup(hub)}")
        elif args.restart:
            stop(hub, servers=False)
            print(f"hub: restarted at {hub.url} (pid {start(hub)}); users' servers went on running")
        else:
            user, _, name = args.add_student.partition("=")
            print(f"hub: added {user}, password {add_student(hub, user, name, args.password)} (no restart)")
        return 0
    students = dict(part.partition("=")[::2] for part in args.students.split(",") if part)
    hub = Hub(root=root, port=args.port, ip=args.ip, instructor=args.instructor, students=list(students), mode=args.mode,
              notebooks=[n for n in args.notebooks.split(",") if n], names={u: n for u, n in students.items() if n},
              student_memory_mb=args.student_memory, student_cpus=args.student_cpus)
    archive = os.environ.get("CIFAR10_PATH")
    if not archive or not Path(archive).is_file():
        raise SystemExit("hub: set CIFAR10_PATH to the cifar-10-python.tar.gz to serve (tools/hub.sh does)")
    if running(hub) is not None:
        stop(hub, servers=False)  # set up again: the hub restarts with the new settings, servers go on
    passwords = setup(hub, Path(archive), args.password, reset=args.reset)
    print(f"hub: set up in {hub.root}; course in {hub.course}; exchange in {hub.root}/exchange")
    for user in [hub.instructor, *hub.students]:
        print(f"  {user:<12} password {passwords.get(user, '(unchanged)')}"
              + ("  (instructor: formgrader)" if user == hub.instructor else ""))
    if args.setup_only:
        return 0
    print(f"hub: running at {hub.url} (pid {start(hub)}); stop it with `sudo bash tools/hub.sh --stop`, log in "
          f"{hub.state / 'hub.log'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
