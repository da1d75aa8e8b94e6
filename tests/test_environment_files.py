"""requirements.txt is the one list of pins: the pip and conda routes install it, the files that
must stand alone repeat its versions (tools/pins.py writes them), this environment has them, and
the pre-commit hooks run the pinned tools."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _load_pins_tool():
    """tools/pins.py, loaded by its path (tools/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("course_pins", REPO / "tools" / "pins.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pins_tool = _load_pins_tool()
LOCK = REPO / "requirements.txt"
STUDENT_FILES = ("source/cifar10/requirements.txt", "release/cifar10/requirements.txt")
HUB_FILE = "hub/requirements.txt"
HUB_OWN = {"jupyterhub", "jupyterhub-idle-culler"}  # the hub's own packages, which .venv does not hold
# Every library the grader's code imports or drives, and what trains the networks it grades.
GRADER_REACHES = ("tensorflow", "keras", "numpy", "h5py", "ipykernel", "ipython", "jupyter-client", "jupyter-core",
                  "jupyter-server", "tornado", "pyzmq", "traitlets", "nbgrader", "nbformat", "nbclient", "nbconvert",
                  "bleach", "dask", "distributed", "psycopg")


def requirements_pins(path: Path = LOCK) -> dict[str, str]:
    """The pins of a requirements file, by normalized name without extras (``psycopg``,
    ``jupyter-client``); every line that is not a comment or a ``-r`` must be ``name==version``."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-r "):
            match = pins_tool.PIN.fullmatch(line)
            assert match, f"{path.relative_to(REPO)} line {line!r} is not pinned with =="
            pins[pins_tool.normalize(match.group(1))] = match.group(3)
    return pins


def test_the_lock_pins_every_package_and_says_who_needs_it():
    silent = [line for line in LOCK.read_text().splitlines() if line.strip() and not line.startswith("#")
              and "#" not in line]
    assert not silent, f"requirements.txt pins without a comment saying who needs them: {silent}"
    assert requirements_pins()  # and every line is a pin


def test_the_grader_and_its_libraries_are_pinned():
    pins = requirements_pins()
    missing = [name for name in GRADER_REACHES if name not in pins]
    assert not missing, f"libraries the grader reaches into, unpinned in requirements.txt: {missing}"
    assert pins["tensorflow"].startswith("2.21.") and pins["keras"].startswith("3.")
    assert pins["nbgrader"] == "0.9.6" and pins["jupyterlab"].startswith("4.")
    for name in ("matplotlib", "pytest", "ruff", "pre-commit"):
        assert name in pins


def conda_pip_lines() -> list[str]:
    """The entries of environment.yml's ``pip:`` list (a plain reader: no YAML library needed)."""
    lines = (REPO / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    indent = len(lines[start + 1]) - len(lines[start + 1].lstrip())
    block = []
    for line in lines[start + 1:]:
        if line.strip() and len(line) - len(line.lstrip()) < indent:
            break
        if line.strip():
            block.append(line.split("#", 1)[0].strip())
    return block


def test_conda_installs_the_lock_itself():
    """Conda runs pip in environment.yml's folder, so ``-r requirements.txt`` is the pip route's file."""
    assert conda_pip_lines() == ["- -r requirements.txt"]
    assert "==" not in (REPO / "environment.yml").read_text(), "environment.yml pins a version of its own"


def test_conda_python_is_the_tested_one():
    assert re.search(r"^\s*-\s*python=3\.11\b", (REPO / "environment.yml").read_text(), re.M)


def test_the_package_depends_on_the_lock():
    """pyproject.toml's dependencies are read from requirements.txt (as installed here by setup_env.sh)."""
    assert re.search(r'^dependencies = \{ file = \["requirements.txt"\] \}$', (REPO / "pyproject.toml").read_text(),
                     re.M)
    declared = {pins_tool.normalize(re.split(r"[\[=<>;! ]", line, maxsplit=1)[0])
                for line in metadata.requires("cifar10-course") or []}
    assert declared == set(requirements_pins())


def test_every_file_that_repeats_a_pin_states_the_locks_version():
    stale = pins_tool.stale()
    assert not stale, f"pins that differ from requirements.txt in {sorted(stale)}: run python3 tools/pins.py"


@pytest.mark.parametrize("name", [*STUDENT_FILES, "source/cifar10/README.md", HUB_FILE])
def test_no_file_pins_a_version_the_lock_does_not_hold(name):
    """A version pinned only in a follower would be a second place to change it (the hub's own
    packages, which the course's environment does not install, are the exception)."""
    lock = requirements_pins()
    own = HUB_OWN if name == HUB_FILE else set()
    unknown = {pkg for pkg, _ in pins_tool.pinned_in((REPO / name).read_text()) if pkg not in lock} - own
    assert not unknown, f"{name} pins packages that requirements.txt does not: {unknown}"
    assert not own & set(lock), f"requirements.txt pins the hub's own packages: {own & set(lock)}"


def test_the_hub_installs_the_students_requirements_and_the_graders_libraries():
    """The instructor's server on the hub runs the grader with the hub's Python."""
    text = (REPO / HUB_FILE).read_text()
    assert "-r ../source/cifar10/requirements.txt" in text.splitlines()
    hub = {pkg for pkg, _ in pins_tool.pinned_in(text)}
    students = {pkg for pkg, _ in pins_tool.pinned_in((REPO / STUDENT_FILES[0]).read_text())}
    cluster_and_dev = {"dask", "distributed", "psycopg"}
    missing = set(GRADER_REACHES) - hub - students - cluster_and_dev
    assert not missing, f"libraries the grader reaches into that the hub does not pin: {missing}"


def test_the_pins_script_sets_versions_and_nothing_else():
    text = ('numpy==1.0  # pip install "tensorflow[and-cuda]==2.0"\nJupyter_Client==1\nnotkeras==1.0\n'
            "keras==9.9.\n-r ../x.txt\n")
    pins = {"numpy": "2.4.6", "tensorflow": "2.21.0", "jupyter-client": "8.10.0", "keras": "3.15.1"}
    assert pins_tool.synced(text, pins) == ('numpy==2.4.6  # pip install "tensorflow[and-cuda]==2.21.0"\n'
                                            "Jupyter_Client==8.10.0\nnotkeras==1.0\nkeras==3.15.1.\n-r ../x.txt\n")
    result = subprocess.run([sys.executable, str(REPO / "tools" / "pins.py"), "--check"], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name,version", sorted(requirements_pins().items()))
def test_this_environment_has_the_pinned_version(name, version):
    """The tests run in the environment the README sets up, not whatever happens to be around."""
    assert metadata.version(name) == version


# ---------------------------------------------------------------------------------------------
# pre-commit: local hooks that run the pinned tools from .venv

PRE_COMMIT = Path(sys.executable).parent / "pre-commit"


def test_pre_commit_config_is_valid_and_runs_the_pinned_tools():
    if not PRE_COMMIT.exists():
        pytest.fail(f"{PRE_COMMIT} is missing: bash tools/setup_env.sh installs requirements.txt's pre-commit")
    result = subprocess.run([str(PRE_COMMIT), "validate-config", ".pre-commit-config.yaml"], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    import yaml  # pre-commit's own dependency

    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    assert set(hooks) == {"ruff", "clear-notebook-outputs"}
    for hook in hooks.values():  # run from the repository root: .venv's tools, pinned in requirements.txt
        assert hook["language"] == "system" and hook["entry"].startswith(".venv/bin/"), hook
        assert (REPO / hook["entry"].split()[0]).exists(), hook["entry"]


def run_hook(hook: str, files: list[Path], cwd: Path) -> subprocess.CompletedProcess:
    """One hook of the configuration on ``files`` in ``cwd``, a throwaway git repository holding them."""
    return subprocess.run([str(PRE_COMMIT), "run", hook, "--config", str(REPO / ".pre-commit-config.yaml"),
                           "--files", *map(str, files)], cwd=cwd, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), "PRE_COMMIT_HOME": str(cwd / ".cache")})


@pytest.fixture
def scratch_repo(tmp_path) -> Path:
    """A git repository with the source notebooks and a link to .venv, where the hooks may change files."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".venv").symlink_to(REPO / ".venv")
    shutil.copytree(REPO / "source" / "cifar10", tmp_path / "source" / "cifar10",
                    ignore=shutil.ignore_patterns("trained_models", "saved_models", "__pycache__", ".ipynb_checkpoints"))
    subprocess.run(["git", "add", "source"], cwd=tmp_path, check=True)
    return tmp_path


def test_the_notebook_hook_clears_outputs_and_leaves_clean_notebooks_alone(scratch_repo):
    notebooks = sorted((scratch_repo / "source" / "cifar10").glob("*.ipynb"))
    before = {path: path.read_bytes() for path in notebooks}
    result = run_hook("clear-notebook-outputs", notebooks, scratch_repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert {path: path.read_bytes() for path in notebooks} == before, "the hook changed a committed notebook"

    notebook = json.loads(before[notebooks[0]])
    code = next(cell for cell in notebook["cells"] if cell["cell_type"] == "code")
    code["execution_count"] = 3
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["trained\n"]}]
    notebooks[0].write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    result = run_hook("clear-notebook-outputs", notebooks[:1], scratch_repo)
    assert result.returncode == 1 and "files were modified by this hook" in result.stdout, result.stdout
    assert notebooks[0].read_bytes() == before[notebooks[0]]


def test_the_ruff_hook_fails_on_a_lint_error(scratch_repo):
    module = scratch_repo / "source" / "cifar10" / "cifar10_course" / "bad.py"
    module.write_text("import os\n")
    subprocess.run(["git", "add", str(module)], cwd=scratch_repo, check=True)
    result = run_hook("ruff", [module], scratch_repo)
    assert result.returncode == 1 and "F401" in result.stdout, result.stdout
    module.write_text("import os\n\nprint(os.sep)\n")
    assert run_hook("ruff", [module], scratch_repo).returncode == 0
