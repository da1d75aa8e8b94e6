"""JupyterHub's config for the course (copied to the hub's root by ``python hub/course_hub.py``).

It reads ``hub.json`` beside it (written by the set-up): the users, the course, the paths. Each
line answers a pitfall of ../shared/docs/jupyterhub-notes.md.
"""

import json
import os
import sys
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner

here = Path(os.environ.get("CIFAR10_HUB_ROOT") or Path(__file__).parent)
hub = json.loads((here / "hub.json").read_text())
venv_bin = here / "venv" / "bin"
c = get_config()  # noqa: F821  (JupyterHub provides get_config)
sys.path.insert(0, str(here))
from limits import limit  # noqa: E402  (hub/limits.py, copied beside this file)

c.JupyterHub.bind_url = f"http://{hub['ip']}:{hub['port']}"
# The hub's own API and the proxy's, next to the public port (two hubs on one machine do not collide).
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{hub['port'] + 1}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{hub['port'] + 2}"
c.JupyterHub.db_url = f"sqlite:///{here / 'state' / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(here / "state" / "jupyterhub_cookie_secret")
# The proxy runs on its own (python hub/course_hub.py starts it), so that a restart of the hub
# leaves every user's connection to their server alone.
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.auth_token = (here / "state" / "proxy-token").read_text().strip()

# PAM (JupyterHub's default): system users log in with their passwords. JupyterHub 6 lets nobody
# in without an allow list; users added through the API while the hub runs (python hub/course_hub.py
# --add-student) are allowed too, as existing users.
c.Authenticator.allowed_users = {hub["instructor"], *hub["students"]}
c.Authenticator.allow_existing_users = True

# A restart of the hub (python hub/course_hub.py --restart, or a new set-up) leaves users' servers,
# kernels and running training alone: the next hub finds them. --stop stops them first.
c.JupyterHub.cleanup_servers = False

# The course's admin service (its token in state/, root's only): stops servers and adds users for
# python hub/course_hub.py. The idle culler stops servers nobody used for an hour (JupyterLab has
# saved the notebooks; a kernel's state is lost).
admin_token = (here / "state" / "admin-token").read_text().strip()
c.JupyterHub.services = [
    {"name": "course-admin", "api_token": admin_token},
    {"name": "idle-culler", "command": [str(venv_bin / "python"), "-m", "jupyterhub_idle_culler",
                                        f"--timeout={hub.get('idle_minutes', 60) * 60}"]},
]
c.JupyterHub.load_roles = [
    {"name": "course-admin", "scopes": ["admin:users", "admin:servers"], "services": ["course-admin"]},
    {"name": "idle-culler", "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
     "services": ["idle-culler"]},
]

class CourseSpawner(LocalProcessSpawner):
    """JupyterHub's LocalProcessSpawner (the hub, as root, starts each user's server as that user),
    with a memory limit and a CPU share for each student's server and its kernels (hub/limits.py).
    The instructor's server has none: grading bounds every submission on its own."""

    async def start(self):
        url = await super().start()
        if self.user.name != hub["instructor"]:
            where = limit(self.user.name, self.pid, hub.get("student_memory_mb", 4096), hub.get("student_cpus", 1.0))
            self.log.info("Limits of %s's server: %s", self.user.name, where)
        return url


c.JupyterHub.spawner_class = CourseSpawner
# The venv's jupyterhub-singleuser (a bare `jupyterhub-singleuser` is not on the user's PATH).
c.Spawner.cmd = [str(venv_bin / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.http_timeout = 60
c.Spawner.start_timeout = 60


def role(spawner) -> str:
    return "instructor" if spawner.user.name == hub["instructor"] else "student"


def environment(spawner) -> dict:
    env = {
        # nbgrader shells out to alembic, and the formgrader to `python -m grading`: the venv's bin
        # comes first on PATH.
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        # The role's config folder (never /etc/jupyter, which every Jupyter on the machine reads).
        "JUPYTER_CONFIG_PATH": str(here / "config" / role(spawner)),
        "COURSE_MODE": hub["mode"],
        "CIFAR10_PATH": str(next((here / "data").glob("*.tar.gz"))),
        "CIFAR10_CACHE_DIR": str(here / "data" / "cache"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    if role(spawner) == "instructor":
        course = Path(os.path.expanduser(f"~{hub['instructor']}")) / "cifar10-course"
        # The course's nbgrader_config.py imports the grader and the course package: the
        # instructor's server finds them in the instructor's own copy of the course.
        env["PYTHONPATH"] = f"{course}:{course / 'source' / 'cifar10'}"
        env["COURSE_ROOT"] = str(course)  # where the instructor's terminal opens
    return env


def pre_spawn(spawner) -> None:
    spawner.environment = environment(spawner)
    # The instructor works at the course's root, where nbgrader and the formgrader look for it;
    # students in their home, where nbgrader fetches assignments.
    if role(spawner) == "instructor":
        spawner.notebook_dir = str(Path(os.path.expanduser(f"~{hub['instructor']}")) / "cifar10-course")


c.Spawner.pre_spawn_hook = pre_spawn
