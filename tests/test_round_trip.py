"""End to end with real nbgrader: validate, release, autograde demo students, gradebook, CSV, feedback.

One course folder is graded once per test session (fast mode, real Keras on real subset data);
each test asks one question of the result.
"""

from __future__ import annotations

import csv
import html
import re
from pathlib import Path

import nbformat
import pytest

from conftest import FAST, formgrader, max_points
from grading import course as c
from grading import demo, gradebook
from grading.checker import graded_tests

pytestmark = pytest.mark.slow
SOURCE = c.REPO / "source" / c.ASSIGNMENT
RELEASE = c.REPO / "release" / c.ASSIGNMENT

def grade_ids(notebook: nbformat.NotebookNode, **flags) -> dict[str, nbformat.NotebookNode]:
    cells = {}
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if all(meta.get(flag) == value for flag, value in flags.items()) and "grade_id" in meta:
            cells[meta["grade_id"]] = cell
    return cells


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def marked_lines(notebook: str, begin: str, end: str) -> set[str]:
    """Lines only found between ``begin`` and ``end`` markers of a source notebook (over 12 characters).

    A line that also stands outside the markers (``model = build_multilayer_nn()``) is no secret.
    """
    text = "\n".join(cell.source for cell in read(SOURCE / f"{notebook}.ipynb").cells)
    region = re.compile(rf"{re.escape(begin)}[^\n]*\n(.*?)\n[ \t]*{re.escape(end)}", re.S)
    outside = {line.strip() for line in region.sub("", text).splitlines()}
    return {line.strip() for found in region.findall(text) for line in found.splitlines()
            if len(line.strip()) > 12 and line.strip() not in outside}


def checker_lines(notebook: str) -> set[str]:
    """Lines of the notebook's hidden tests (grading/checker/<notebook>.py, over 20 characters)
    that appear nowhere in its source notebook."""
    text = "\n".join(cell.source for cell in read(SOURCE / f"{notebook}.ipynb").cells)
    code = (c.REPO / "grading" / "checker" / f"{notebook}.py").read_text()
    return {line.strip() for line in code.splitlines() if len(line.strip()) > 20 and line.strip() not in text}


def test_hidden_tests_live_outside_the_notebooks():
    """No notebook carries hidden tests: the checker holds them, one for every graded cell."""
    for name in c.NOTEBOOKS:
        notebook = read(SOURCE / f"{name}.ipynb")
        assert not any("BEGIN HIDDEN" in cell.source for cell in notebook.cells), name
        tests = {grade_id for grade_id, cell in grade_ids(notebook, grade=True).items() if cell.cell_type == "code"}
        assert tests == set(graded_tests(name)), f"{name}: graded cells and checker tests differ"


@pytest.fixture(scope="module")
def graded(tmp_path_factory, solution_run):
    """A course in which every demo student has been autograded, with feedback and a CSV."""
    course = c.new_course(tmp_path_factory.mktemp("course"))
    demo.grade_demo_round(course, FAST, solution=solution_run)
    return course, gradebook.scores(course)


def test_source_notebooks_are_stored_without_outputs():
    for name in c.NOTEBOOKS:
        for cell in read(SOURCE / f"{name}.ipynb").cells:
            assert not cell.get("outputs") and not cell.get("execution_count"), f"{name} has outputs"


def test_every_grade_cell_states_what_it_checks():
    """Grade cells open with a docstring, and their points add up to the total in the README."""
    total = 0
    for name in c.NOTEBOOKS:
        for grade_id, cell in grade_ids(read(SOURCE / f"{name}.ipynb"), grade=True).items():
            total += cell.metadata["nbgrader"]["points"]
            if cell.cell_type == "code":
                assert cell.source.startswith('"""'), f"{name}:{grade_id} has no docstring"
    assert f"**{total} points**" in (c.REPO / "README.md").read_text()


@pytest.fixture(scope="module")
def validated(graded):
    """The logs of `nbgrader validate` of the solution and `validate --invert` of the release, as a
    student's Validate button runs them (visible tests only), both at once."""
    from concurrent.futures import ThreadPoolExecutor

    course, _ = graded
    solution = [str(course / "work" / "demo_solution" / f"{name}.ipynb") for name in c.NOTEBOOKS]
    release = [str(RELEASE / f"{name}.ipynb") for name in c.NOTEBOOKS]
    with ThreadPoolExecutor(2) as pool:
        passes = pool.submit(c.nbgrader, course, "validate", *solution, env=c.grading_env(FAST))
        fails = pool.submit(c.nbgrader, course, "validate", "--invert", *release, env=c.grading_env(FAST))
        return passes.result(), fails.result()


def test_nbgrader_validate_passes_the_solution(validated):
    log = validated[0]
    assert log.count("Success! Your notebook passes all the tests.") == len(c.NOTEBOOKS), log[-3000:]


def test_nbgrader_validate_invert_finds_no_passing_test_in_the_release(validated):
    log = validated[1]
    assert log.count("Success! The notebook does not pass any tests.") == len(c.NOTEBOOKS), log[-3000:]


def test_committed_release_equals_a_fresh_regeneration(graded):
    """Is release/ exactly what generate_assignment makes of source/ now? (python -m grading release)"""
    course, _ = graded
    fresh = course / "release" / c.ASSIGNMENT
    committed = sorted(p.relative_to(RELEASE) for p in RELEASE.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    generated = sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file())
    assert committed == generated
    stale = [str(p) for p in generated if (RELEASE / p).read_bytes() != (fresh / p).read_bytes()]
    assert not stale, f"release/ is stale in {stale}: run `python -m grading release`"


def test_release_holds_no_solution_hidden_test_model_or_data():
    for name in c.NOTEBOOKS:
        released_code = "\n".join(cell.source for cell in read(RELEASE / f"{name}.ipynb").cells)
        secret_lines = marked_lines(name, "### BEGIN SOLUTION", "### END SOLUTION") | checker_lines(name)
        assert secret_lines, f"no solution or hidden-test lines found in {name}"
        leaked = [line for line in secret_lines if line in released_code]
        assert not leaked, f"{name} release leaks: {leaked[:3]}"
        assert "BEGIN SOLUTION" not in released_code and "BEGIN HIDDEN" not in released_code
    files = [p for p in RELEASE.rglob("*") if p.is_file()]
    assert not [p for p in files if p.suffix in {".h5", ".keras", ".npy", ".npz", ".gz"} or "trained_models" in p.parts]
    assert max(p.stat().st_size for p in files) < 200_000, "the release should hold no data"


def total_points() -> float:
    return sum(sum(max_points(name).values()) for name in c.NOTEBOOKS)


def test_demo_solution_earns_every_point(graded):
    _, scores = graded
    solution = scores["demo_solution"]
    for name in c.NOTEBOOKS:
        assert solution[name].grades == max_points(name), f"{name}: {solution[name].grades}"
    assert sum(n.score for n in solution.values()) == sum(n.max_score for n in solution.values()) == total_points()


def test_no_grade_cell_ends_in_a_number(graded):
    """nbgrader scores a grade cell whose last expression is a number with that number (partial
    credit): a test ending in `check_test_accuracy(...)` would score 0.3 points instead of 3."""
    course, _ = graded
    for name in c.NOTEBOOKS:
        notebook = read(course / "autograded" / "demo_solution" / c.ASSIGNMENT / f"{name}.ipynb")
        for grade_id, cell in grade_ids(notebook, grade=True).items():
            results = [o for o in cell.get("outputs", []) if o.output_type == "execute_result"]
            assert not results, f"{name}:{grade_id} ends in an expression: {results[0].data}"


def test_demo_blank_earns_nothing(graded):
    _, scores = graded
    blank = scores["demo_blank"]
    assert set(blank) == set(c.NOTEBOOKS)
    assert all(score == 0 for notebook in blank.values() for score in notebook.grades.values()), blank


def test_demo_tampered_is_graded_by_the_original_tests(graded):
    course, scores = graded
    tampered, solution = scores["demo_tampered"], scores["demo_solution"]
    for name in c.NOTEBOOKS:
        for grade_id, points in solution[name].grades.items():
            expected = 0 if (name == demo.TAMPERED_NOTEBOOK and grade_id in demo.TAMPERED_FAILS) else points
            if grade_id in {g for (_, g) in demo.MANUAL_GRADES}:
                continue  # demo_tampered's written answer still waits for the instructor.
            assert tampered[name].grades[grade_id] == expected, (name, grade_id)
    graded_cell = grade_ids(read(course / "autograded" / "demo_tampered" / c.ASSIGNMENT / f"{demo.TAMPERED_NOTEBOOK}.ipynb"))
    original = grade_ids(read(SOURCE / f"{demo.TAMPERED_NOTEBOOK}.ipynb"))
    assert graded_cell["load_cifar10_values"].source == original["load_cifar10_values"].source


def test_grade_export_has_a_row_per_student(graded):
    course, scores = graded
    with open(course / "grades.csv") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    for student in demo.DEMO_STUDENTS:
        assert float(rows[student]["raw_score"]) == sum(n.score for n in scores[student].values())
    assert float(rows["demo_solution"]["max_score"]) == total_points()


def test_feedback_shows_messages_but_no_hidden_test_code(graded):
    course, _ = graded
    # Each page against its own notebook's hidden tests (the checker's code).
    hidden = {name: checker_lines(name) for name in c.NOTEBOOKS}
    assert all(hidden.values())
    pages = sorted((course / "feedback").rglob("*.html"))
    assert len(pages) == len(demo.DEMO_STUDENTS) * len(c.NOTEBOOKS)
    for page in pages:
        visible = html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))
        leaked = [line for line in hidden[page.stem] if line in visible]
        assert not leaked, f"{page} shows hidden test code: {leaked[:2]}"
    tampered = (course / "feedback" / "demo_tampered" / c.ASSIGNMENT / f"{demo.TAMPERED_NOTEBOOK}.html").read_text()
    visible = html.unescape(re.sub(r"<[^>]+>", "", tampered))
    assert "Check that load_cifar10 keeps every image and label of the data set, in order" in visible
    assert "should hold the data set's images divided by 255" in visible  # the hidden test's message


def test_the_demo_round_raises_no_signal_but_the_copied_weights(graded):
    """False positives of the instructor's signals on six honest notebooks, graded twice: none.
    demo_tampered holds copies of demo_solution's weights files, and both are named for it; its
    edited visible test is named too (nbgrader restored it before grading)."""
    from grading import report

    course, _ = graded
    with open(course / report.REPORT, newline="") as handle:
        signals = {row["student"]: [s for s in row["signals"].split("; ") if s] for row in csv.DictReader(handle)}
    weights = sorted(p.name for p in (course / "submitted/demo_solution/cifar10/trained_models").iterdir())
    assert weights and signals["demo_blank"] == []
    edited = {"demo_solution": [], "demo_tampered": ["edited locked cells, restored before grading: load_cifar10_values"]}
    for student, other in (("demo_solution", "demo_tampered"), ("demo_tampered", "demo_solution")):
        expected = [f"{name} identical to that of {other} (different code, submission times unknown)"
                    for name in weights] + edited[student]
        assert sorted(signals[student]) == sorted(expected), signals[student]


def test_the_formgrader_shows_the_demo_round_and_grades_with_the_sandbox(graded, tmp_path):
    """The instructor's view of the main job: the formgrader lists the demo students with their
    scores and demo_tampered's written answers waiting to be hand-graded; its Autograde URL is
    answered by the sandboxed grader (grading.formgrader), not nbgrader's in-process one."""
    course, scores = graded
    with formgrader(course, tmp_path) as call:
        shown = {row["student"]: row for row in call(f"/submissions/{c.ASSIGNMENT}")}
        assert set(shown) == set(demo.DEMO_STUDENTS)
        for student in demo.DEMO_STUDENTS:
            assert shown[student]["score"] == pytest.approx(sum(s.score for s in scores[student].values()))
        assert shown["demo_tampered"]["needs_manual_grade"] and not shown["demo_solution"]["needs_manual_grade"]
        answer = call(f"/submission/{c.ASSIGNMENT}/demo_nobody/autograde", method="POST")
        assert answer == {"success": False, "log": "", "error": "no submission of 'demo_nobody' in submitted/"}


def test_the_formgrader_starts_a_course_without_an_activated_environment(tmp_path):
    """With no gradebook yet and no environment on PATH, the formgrader still answers (nbgrader
    creates the gradebook with the environment's alembic), and lists the assignment."""
    course = c.new_course(tmp_path / "course", ["part1_data"])
    with formgrader(course, tmp_path) as call:
        assert [row["name"] for row in call("/assignments")] == [c.ASSIGNMENT]
    assert (course / "gradebook.db").is_file()


def test_nbgrader_alone_cannot_grade_outside_the_sandbox(tmp_path):
    """Whatever answers the formgrader's Autograde button (nbgrader's own in-process handler, were
    grading.formgrader not loaded or not first) or runs plain ``nbgrader autograde``, the course's
    settings refuse to run a student's notebook outside the sandbox: no score, and why."""
    course = c.new_course(tmp_path / "course", ["part1_data"])
    c.submit(course, "demo_blank", c.generate_release(course))
    refusal = "outside the grading sandbox"
    def nothing_scored() -> bool:  # nbgrader records the submission before it runs it, with no score
        graded = gradebook.scores(course).get("demo_blank", {}).get("part1_data")
        return (graded is None or all(score is None for score in graded.grades.values())) and not (
            course / "autograded/demo_blank" / c.ASSIGNMENT / "part1_data.ipynb").exists()

    with pytest.raises(c.GradingError, match=refusal):
        c.nbgrader(course, "autograde", c.ASSIGNMENT, "--student=demo_blank")
    assert nothing_scored()
    with formgrader(course, tmp_path, course_extension=False) as call:
        answer = call(f"/submission/{c.ASSIGNMENT}/demo_blank/autograde", method="POST")
    assert not answer["success"] and refusal in answer["log"] + answer.get("error", ""), answer
    assert nothing_scored()
