"""JupyterHub's config for the course (copied to the hub's root by ``python -m grading.hub``).

It reads ``hub.json`` beside it (written by the set-up): the users, the course, the paths. Each
line answers a pitfall of ../shared/docs/jupyterhub-notes.md.
"""

import json
import os
from pathlib import Path

here = Path(os.environ.get("CIFAR10_HUB_ROOT") or Path(__file__).parent)
hub = json.loads((here / "hub.json").read_text())
venv_bin = here / "venv" / "bin"
c = get_config()  # noqa: F821  (JupyterHub provides get_config)

c.JupyterHub.bind_url = f"http://{hub['ip']}:{hub['port']}"
# The hub's own API and the proxy's, next to the public port (two hubs on one machine do not collide).
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{hub['port'] + 1}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{hub['port'] + 2}"
c.JupyterHub.db_url = f"sqlite:///{here / 'state' / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(here / "state" / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.command = [str(here / "proxy" / "node_modules" / ".bin" / "configurable-http-proxy")]
c.ConfigurableHTTPProxy.pid_file = str(here / "state" / "proxy.pid")

# PAM (JupyterHub's default): system users log in with their passwords. JupyterHub 6 lets nobody
# in without an allow list.
c.Authenticator.allowed_users = {hub["instructor"], *hub["students"]}

# LocalProcessSpawner (the default): the hub, as root, starts each user's server as that user, with
# the venv's jupyterhub-singleuser (a bare `jupyterhub-singleuser` is not on the user's PATH).
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
    return env


def pre_spawn(spawner) -> None:
    spawner.environment = environment(spawner)
    # The instructor works at the course's root, where nbgrader and the formgrader look for it;
    # students in their home, where nbgrader fetches assignments.
    if role(spawner) == "instructor":
        spawner.notebook_dir = str(Path(os.path.expanduser(f"~{hub['instructor']}")) / "cifar10-course")


c.Spawner.pre_spawn_hook = pre_spawn
