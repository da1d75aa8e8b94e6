"""The student's view: a release that stands alone, Validate with the grader's settings, and what
the notebooks say (run times, the environment report, what each test checked).

Most tests read files. The Validate tests run nbgrader's own Validate code, the function behind
the JupyterLab button, on a small notebook; the slowest waits for a cell that runs past nbgrader's
default timeout of 30 s.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from cifar10_course.modes import RUN_TIMES, how_this_notebook_works, run_times
from conftest import subprocess_env
from grading import course as c
from test_environment_files import requirements_pins

SOURCE = c.REPO / "source" / c.ASSIGNMENT
RELEASE = c.REPO / "release" / c.ASSIGNMENT
STUDENT_CONFIG = RELEASE / "nbgrader_config.py"
# The arguments of the kernel Validate starts (the student config's QUIET_KERNEL), read from the file.
QUIET_KERNEL = ast.literal_eval(next(node.value for node in ast.parse(STUDENT_CONFIG.read_text()).body
                                     if isinstance(node, ast.Assign) and node.targets[0].id == "QUIET_KERNEL"))
# Packages only the instructor's grading and the developers use; a student installs none of them.
GRADER_ONLY = {"dask", "distributed", "psycopg", "pytest", "playwright", "ruff", "pre-commit"}
# What students use, and what Validate runs their notebooks with, at the grader's versions.
STUDENT_USES = {"tensorflow", "keras", "numpy", "h5py", "matplotlib", "jupyterlab", "ipykernel", "nbgrader",
                "nbformat", "nbclient", "nbconvert", "jupyter-client"}


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def flat(text: str) -> str:
    return " ".join(text.split())


def section(text: str, heading: str) -> str:
    """A section of a markdown file, from its ``## heading`` to the next ``## `` heading."""
    start = text.index(f"## {heading}\n")
    following = text.find("\n## ", start + 1)
    return text[start:following if following != -1 else None]


# ---------------------------------------------------------------------------------------------
# The release stands alone


def student_pins() -> dict[str, str]:
    return requirements_pins(RELEASE / "requirements.txt")


def test_student_requirements_pin_the_course_versions():
    """The release's file stands alone (students receive only release/cifar10/); tools/pins.py
    writes requirements.txt's versions into it (tests/test_environment_files.py)."""
    course, student = requirements_pins(), student_pins()
    differ = {name: (version, course.get(name)) for name, version in student.items() if course.get(name) != version}
    assert not differ, (f"pins of the students' requirements.txt that differ from requirements.txt (student, course): "
                        f"{differ}; run python3 tools/pins.py")
    assert not any(line.startswith(("-r", "-c")) for line in (RELEASE / "requirements.txt").read_text().splitlines())


def test_student_requirements_hold_what_students_use_and_none_of_the_graders_tools():
    names = set(student_pins())
    assert STUDENT_USES <= names, f"missing: {STUDENT_USES - names}"
    assert not names & GRADER_ONLY, f"grader-only packages for students: {names & GRADER_ONLY}"


def test_release_holds_the_students_files_as_in_the_source():
    for name in ("README.md", "requirements.txt", "nbgrader_config.py"):
        assert (RELEASE / name).read_bytes() == (SOURCE / name).read_bytes(), (
            f"release/{c.ASSIGNMENT}/{name} differs from the source: run `python -m grading release`")


def test_student_config_imports_nothing():
    """It must load wherever nbgrader does, in a student's server or the hub's config folder."""
    tree = ast.parse(STUDENT_CONFIG.read_text())
    assert not [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]


def test_student_readme_covers_what_a_student_needs():
    readme = (RELEASE / "README.md").read_text()
    for needed in ("jupyter lab", "COURSE_MODE=fast", "CIFAR10_PATH", "tensorflow[and-cuda]", "trained_models/",
                   "Validate", "nbgrader_config.py", "requirements.txt"):
        assert needed in readme, f"the students' README does not mention {needed}"


def test_repository_readme_sends_students_to_the_release_not_to_a_clone():
    students = section((c.REPO / "README.md").read_text(), "For students")
    assert "release/cifar10/" in students and "JupyterHub" in students
    for wrong in ("clone this repository", "tools/setup_env.sh", "jupyter lab release", "environment.yml"):
        assert wrong not in students, f"'For students' tells students to use the repository: {wrong!r}"


# ---------------------------------------------------------------------------------------------
# Run times: one table (cifar10_course.modes.RUN_TIMES), stated alike everywhere


def readme_run_times(path: Path) -> dict[str, dict[str, str]]:
    """The table of run times in the README's "Run modes" section."""
    rows = re.findall(r"^\| `(part\w+)\.ipynb` \| ([^|]+?) \| ([^|]+?) \|$", section(path.read_text(), "Run modes"), re.M)
    return {part: {"fast": fast, "full": full} for part, fast, full in rows}


@pytest.mark.parametrize("readme", [c.REPO / "README.md", RELEASE / "README.md"], ids=["repository", "release"])
def test_readme_run_times_are_the_tables(readme):
    assert set(RUN_TIMES) == set(c.NOTEBOOKS)
    assert readme_run_times(readme) == RUN_TIMES


@pytest.mark.parametrize("folder", [SOURCE, RELEASE], ids=["source", "release"])
def test_notebook_headers_state_the_tables_run_times(folder):
    for part in c.NOTEBOOKS:
        header = flat(read(folder / f"{part}.ipynb").cells[0].source)
        assert f"Expected run time on a 2-core CPU: {run_times(part)}" in header, (
            f"{part}'s header differs from cifar10_course.modes.RUN_TIMES: {header[:300]}")


@pytest.mark.parametrize("folder", [SOURCE, RELEASE], ids=["source", "release"])
def test_every_notebooks_second_cell_is_the_one_made_from_the_modes(folder):
    """"How this notebook works" states what fast mode does and what grading adds; written once
    (cifar10_course.modes.how_this_notebook_works), from the modes' own numbers."""
    for part in c.NOTEBOOKS:
        notebook = read(folder / f"{part}.ipynb")
        written = any(cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("solution")
                      for cell in notebook.cells)
        assert notebook.cells[1].source == how_this_notebook_works(part, written), part
    assert "hidden tests are added" not in how_this_notebook_works("part2_mlp", False)
    assert "for two epochs" in how_this_notebook_works("part2_mlp", False)
    assert "for three epochs" in how_this_notebook_works("part6_bias", True)


# A length of time in prose: "about an hour", "15 minutes", "a few seconds". Stories may hold some.
DURATION = re.compile(r"\b(?:an?|one|two|three|four|five|ten|fifteen|\d+(?:\.\d+)?) (?:hours?|minutes?)\b", re.I)
NOT_RUN_TIMES = {"30 hours"}  # Part 6: how long the police held Robert Williams


def test_no_other_cell_states_a_run_time():
    """The header and the setup cell's printout are the only run times: prose elsewhere once said
    "about an hour" where the header said 15 minutes."""
    for part in c.NOTEBOOKS:
        cells = read(SOURCE / f"{part}.ipynb").cells[1:]
        found = {match for cell in cells for match in DURATION.findall(cell.source)} - NOT_RUN_TIMES
        assert not found, f"{part} states run times outside its header: {found}"


def test_setup_cells_report_the_environment_and_show_no_value():
    for part in c.NOTEBOOKS:
        (setup,) = [cell for cell in read(SOURCE / f"{part}.ipynb").cells
                    if cell.metadata.get("nbgrader", {}).get("grade_id") == "setup"]
        tree = ast.parse(setup.source)
        calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
                 and ast.unparse(node.func) == "course.print_environment_report"]
        assert calls and ast.literal_eval(calls[0].args[0]) == part, f"{part}'s setup cell reports no environment"
        last = tree.body[-1]  # print_environment_report returns None (tests/test_environment.py)
        assert not isinstance(last, ast.Expr) or last.value in calls, (
            f"{part}'s setup cell ends in an expression whose value the notebook shows: {ast.unparse(last)}")


# ---------------------------------------------------------------------------------------------
# Every visible test says what it checked


def test_every_test_cell_ends_by_saying_what_it_checked():
    for part in c.NOTEBOOKS:
        for cell in read(SOURCE / f"{part}.ipynb").cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type != "code" or not meta.get("grade"):
                continue
            last = ast.parse(cell.source).body[-1]
            said = isinstance(last, ast.Expr) and isinstance(last.value, ast.Call) and (
                ast.unparse(last.value.func) == "course.report_passed")
            assert said, f"{part}:{meta['grade_id']} does not end with course.report_passed(...)"
            assert "import cifar10_course as course" in cell.source, f"{part}:{meta['grade_id']} relies on a global course"


# ---------------------------------------------------------------------------------------------
# Validate: nbgrader's own code, with only the student's configuration


def code_cell(grade_id: str, source: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": grade_id, "locked": True, "points": 1,
                                 "schema_version": 3, "solution": False, "task": False}
    return cell


CELLS = {
    "slow": '"""Runs 35 s: longer than nbgrader\'s default timeout, shorter than the course\'s"""\n'
            'import time\ntime.sleep(35)\nprint("done")',
    "stderr": '"""Starts TensorFlow, whose C++ runtime logs to stderr, and writes there from Python"""\n'
              'import sys\nimport tensorflow as tf\n\ntf.config.list_physical_devices()\n'
              'print("WARNING: a log line", file=sys.stderr)\nprint("done")',
    "course_check": '"""A course check that fails"""\nimport numpy as np\nimport cifar10_course as course\n\n'
                    'course.check_array("xtrain", np.zeros((3, 2)), shape=(4, 2))',
}

# The handler behind JupyterLab's Validate button, with the two things a web request gives it (the
# server's root folder and a logger): its own load_config (the folder JupyterLab started in and the
# Jupyter config path) and validate_notebook run unchanged.
VALIDATE = """
import json, logging, sys
from nbgrader.server_extensions.validate_assignment.handlers import ValidateAssignmentHandler as Real

class Handler:
    root_dir = "."
    log = logging.getLogger("validate")
    load_config = Real.load_config
    validate_notebook = Real.validate_notebook

print("RESULT " + json.dumps(Handler().validate_notebook(sys.argv[1])))
"""


def assignment(folder: Path, with_config: bool) -> Path:
    """A small assignment folder as a student has it: a notebook, the course's helpers and, with
    ``with_config``, the release's nbgrader_config.py."""
    folder.mkdir(parents=True)
    shutil.copytree(RELEASE / "cifar10_course", folder / "cifar10_course")
    if with_config:
        shutil.copy(STUDENT_CONFIG, folder / "nbgrader_config.py")
    cells = [code_cell(grade_id, source) for grade_id, source in CELLS.items()]
    # A student's own cell with a SyntaxError, and a test that fails because of it (NameError).
    cells += [nbformat.v4.new_code_cell("def helper(:\n    return 1"),
              code_cell("uses_helper", '"""Calls helper"""\nhelper()')]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, folder / "validate_me.ipynb")
    return folder


def start_validate(folder: Path, **env: str | None) -> subprocess.Popen:
    """Validate ``folder``'s notebook as the button does in a JupyterLab started in ``folder``.
    JUPYTER_NO_CONFIG leaves out every other configuration (the user's, the machine's)."""
    return subprocess.Popen([sys.executable, "-c", VALIDATE, "validate_me.ipynb"], cwd=folder, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=subprocess_env(JUPYTER_NO_CONFIG="1", TF_CPP_MIN_LOG_LEVEL=None, **env))


def validate_result(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=300)
    assert "Exception while loading config file" not in err, err[-3000:]  # nbgrader would carry on without it
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    assert lines, f"no result:\n{out[-2000:]}\n{err[-3000:]}"
    result = json.loads(lines[-1].removeprefix("RESULT "))
    assert result["success"], result["value"]
    return result["value"]


def failed_cells(value: dict) -> dict[str, dict]:
    ids = {f'"""{source.split(chr(34) * 3)[1]}"""': grade_id for grade_id, source in CELLS.items()}
    ids['"""Calls helper"""'] = "uses_helper"
    return {ids.get(entry["source"].split("\n")[0], "own cell"): entry for entry in value.get("failed", [])}


@pytest.mark.slow
def test_validate_runs_with_the_course_settings_from_the_student_config(tmp_path):
    """With the release's nbgrader_config.py a 35 s cell and a cell that starts TensorFlow (which
    logs to stderr) pass, a failed course check shows its message alone, and a SyntaxError in a
    student's own cell is named before the test it makes fail; without it (nbgrader's defaults)
    the first two fail as well, and the SyntaxError is not named at all."""
    with_config = start_validate(assignment(tmp_path / "with", with_config=True))
    without = start_validate(assignment(tmp_path / "without", with_config=False))  # at the same time
    value = validate_result(with_config)
    failed = failed_cells(value)
    failed_by_default = failed_cells(validate_result(without))

    assert list(failed) == ["course_check", "own cell", "uses_helper"], {n: e["raw_error"][:300] for n, e in failed.items()}
    assert "SyntaxError" in failed["own cell"]["raw_error"] and "NameError" in failed["uses_helper"]["raw_error"]
    shown = failed["course_check"]["raw_error"]  # the lines the Validate dialog shows (as HTML: "error")
    assert re.sub(r"\x1b\[[0-9;]*m", "", shown) == "Test failed: xtrain should have shape (4, 2) but has shape (3, 2)"
    assert "Test failed" in failed["course_check"]["error"] and "Traceback" not in failed["course_check"]["error"]

    assert set(failed_by_default) == {"slow", "stderr", "course_check", "uses_helper"}
    assert "CellTimeoutError" in failed_by_default["slow"]["raw_error"]
    assert "a log line" in failed_by_default["stderr"]["raw_error"]


def load_student_config(cwd: Path, **env: str | None) -> dict:
    """The configuration the Validate button loads, as plain values."""
    code = ("import json\nfrom nbgrader.server_extensions.validate_assignment.handlers import ValidateAssignmentHandler\n"
            "config = ValidateAssignmentHandler.load_config(None)\n"
            "print('RESULT ' + json.dumps({'timeout': config.Execute.get('timeout'), "
            "'ignore': dict(config.IgnorePattern), "
            "'validate_kernel': list(config.Validator.Execute.get('extra_arguments', [])), "
            "'validate_all': config.Validator.get('validate_all')}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120,
                            env=subprocess_env(**env))
    assert result.returncode == 0 and "Exception while loading config file" not in result.stderr, result.stderr[-3000:]
    return json.loads(result.stdout.split("RESULT ", 1)[1])


HUB_CONFIG = """c = get_config()
c.Exchange.root = "/srv/nbgrader/exchange"
load_subconfig("grading_settings.py")
"""


@pytest.mark.slow  # starts processes
@pytest.mark.parametrize("how", ["copied", "loaded by the hub's own config"])
def test_a_jupyterhub_can_give_students_the_config_on_their_config_path(tmp_path, how):
    """A copy of the release's nbgrader_config.py in a folder on JUPYTER_CONFIG_PATH works alone, or
    loaded with load_subconfig by a student config of the hub's own: what a JupyterHub does for
    students, whose JupyterLab starts in their home folder."""
    (tmp_path / "student-config").mkdir()
    if how == "copied":
        shutil.copy(STUDENT_CONFIG, tmp_path / "student-config" / "nbgrader_config.py")
    else:
        shutil.copy(STUDENT_CONFIG, tmp_path / "student-config" / "grading_settings.py")
        (tmp_path / "student-config" / "nbgrader_config.py").write_text(HUB_CONFIG)
    (tmp_path / "home").mkdir()
    found = load_student_config(tmp_path / "home", JUPYTER_CONFIG_PATH=str(tmp_path / "student-config"),
                                JUPYTER_CONFIG_DIR=str(tmp_path / "empty"), JUPYTER_NO_CONFIG=None)
    assert found == {"timeout": 120, "ignore": {"enabled": True, "pattern": r"[\s\S]"},
                     "validate_kernel": QUIET_KERNEL, "validate_all": True}


@pytest.mark.slow  # starts processes
def test_the_grader_uses_the_student_settings_from_the_same_file():
    from traitlets.config.loader import PyFileConfigLoader

    grader = PyFileConfigLoader("nbgrader_config.py", path=str(c.REPO)).load_config()
    student = load_student_config(RELEASE, JUPYTER_NO_CONFIG="1")
    assert grader.Execute.timeout == student["timeout"]
    assert dict(grader.IgnorePattern) == student["ignore"] and grader.Validator.validate_all
    own = (c.REPO / "nbgrader_config.py").read_text()
    assert not re.search(r"^c\.(Execute\.timeout|IgnorePattern\.|Validator\.)", own, re.M), (
        "nbgrader_config.py sets a shared setting itself instead of loading source/cifar10/nbgrader_config.py")
