"""Parallel grading end to end: real nbgrader, kernels, Keras and data, in local workers and on a
Dask cluster of separate worker processes writing to a PostgreSQL gradebook.

The courses hold Parts 1 and 2 only, to keep each autograde to seconds. The submissions: the
solution, a tampered copy (other scores), and one whose Part 2 notebook is not valid JSON (plain
nbgrader fails that whole student; the grader grades Part 1 and gives Part 2 0). Their expected
scores come from the source notebooks' points; plain sequential ``nbgrader autograde`` (what the
formgrader's button runs) must give the solution's. (The blank release is graded in
tests/test_round_trip.py and tests/test_bad_submissions.py.) Every parallel run here is sandboxed
(grading/sandbox/); plain nbgrader is not.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pytest

from conftest import FAST, max_points, require_sandbox, solution_copy, unavailable
from grading import course as c
from grading import demo, gradebook
from grading import parallel
from grading import report
from grading.settings import GradingSettings

pytestmark = pytest.mark.slow
NOTEBOOKS = ("part1_data", "part2_mlp")
STUDENTS = ("demo_solution", "demo_tampered", "demo_not_json")


@pytest.fixture(scope="module")
def submissions(tmp_path_factory, solution_run) -> Path:
    """One folder per demo student, ready to be submitted."""
    root = tmp_path_factory.mktemp("submissions")
    solution = solution_copy(solution_run, root / "demo_solution", NOTEBOOKS)
    shutil.copytree(solution, root / "demo_tampered")
    demo.tamper(root / "demo_tampered")
    shutil.copytree(solution, root / "demo_not_json")
    (root / "demo_not_json" / "part2_mlp.ipynb").write_text('{"cells": [')
    return root


def new_graded_course(root: Path, submissions: Path) -> Path:
    course = c.new_course(root, NOTEBOOKS)
    c.generate_release(course)
    for student in STUDENTS:
        c.submit(course, student, submissions / student)
    return course


@pytest.fixture(scope="module")
def expected(tmp_path_factory, submissions):
    """The scores every run must give, from the source notebooks' points: the solution every point,
    demo_tampered all but its tampered tests', demo_not_json Part 1's and nothing for the unreadable
    Part 2. The solution's are checked against plain `nbgrader autograde`, without sandbox or workers."""
    full = {}
    for name in NOTEBOOKS:
        grades = max_points(name)
        full[name] = gradebook.NotebookScore(sum(grades.values()), sum(grades.values()), grades)
    tampered = dict(full)
    fails = dict.fromkeys(demo.TAMPERED_FAILS, 0.0)
    part = full[demo.TAMPERED_NOTEBOOK]
    tampered[demo.TAMPERED_NOTEBOOK] = gradebook.NotebookScore(sum({**part.grades, **fails}.values()), part.max_score,
                                                    {**part.grades, **fails})
    unreadable = full["part2_mlp"]
    result = {"demo_solution": full, "demo_tampered": tampered,
              "demo_not_json": {"part1_data": full["part1_data"], "part2_mlp": gradebook.NotebookScore(
                  0.0, unreadable.max_score, dict.fromkeys(unreadable.grades, 0.0))}}

    course = new_graded_course(tmp_path_factory.mktemp("plain"), submissions)
    c.autograde_unsandboxed(course, ["demo_solution"], FAST)
    assert gradebook.scores(course) == {"demo_solution": full}
    return result


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, submissions):
    require_sandbox()
    course = new_graded_course(tmp_path_factory.mktemp("local"), submissions)
    return course, parallel.grade_all(course, FAST, workers=2, progress=False)


def by_student(outcomes):
    return {outcome.student: outcome for outcome in outcomes}


def test_local_workers_give_the_expected_scores(expected, local_run):
    course, outcomes = local_run
    assert gradebook.scores(course) == expected
    assert {outcome.status for outcome in outcomes} == {"graded"}


def test_an_unreadable_notebook_is_graded_as_missing_with_a_note(local_run, submissions):
    course, outcomes = local_run
    unreadable = by_student(outcomes)["demo_not_json"]
    assert unreadable.notes.startswith("part2_mlp.ipynb is not a readable notebook (NotJSONError: Notebook does "
                                       "not appear to be JSON"), unreadable.notes
    assert "graded as missing: 0 points" in unreadable.notes
    # The student's file is untouched, and no copy of the submission is left behind.
    assert (course / "submitted/demo_not_json/cifar10/part2_mlp.ipynb").read_text() == '{"cells": ['
    assert not (course / report.STAGED / "demo_not_json").exists()


def test_the_report_has_every_submission(local_run):
    course, outcomes = local_run
    with open(course / report.REPORT) as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(STUDENTS)
    solution = rows["demo_solution"]
    # The student's kernel imports TensorFlow and predicts: hundreds of MB, and some seconds.
    assert float(solution["peak_memory_mb"]) > 200 and float(solution["seconds"]) > 1
    assert solution["attempts"] == "1" and solution["kernel_deaths"] == "0" and solution["sandbox_violations"] == ""


def test_a_second_run_skips_what_is_graded_and_unchanged(local_run, submissions):
    course, _ = local_run
    before = gradebook.scores(course)
    again = by_student(parallel.grade_all(course, FAST, workers=2, progress=False))
    # An unchanged submission keeps the telemetry of the run that graded it.
    assert again["demo_solution"].peak_memory_mb == by_student(local_run[1])["demo_solution"].peak_memory_mb > 0
    assert {s: o.status for s, o in again.items()} == dict.fromkeys(STUDENTS, "unchanged")
    # A changed submission is graded again, and only it.
    c.submit(course, "demo_tampered", submissions / "demo_solution")
    third = by_student(parallel.grade_all(course, FAST, workers=2, progress=False))
    assert third["demo_tampered"].status == "graded" and third["demo_solution"].status == "unchanged"
    after = gradebook.scores(course)
    assert after["demo_tampered"] == before["demo_solution"] and after["demo_not_json"] == before["demo_not_json"]


def kill_gradings_of(course: Path, student: str, times: int, killed: list) -> None:
    """Kill the nbgrader process grading ``student`` ``times`` times, each once it has graded Part 1
    (its grades are then in the gradebook), as an out-of-memory killer or an operator would."""
    graded_part1 = course / "autograded" / student / c.ASSIGNMENT / "part1_data.ipynb"
    deadline = time.time() + 300
    while time.time() < deadline and len(killed) < times:
        for process in psutil.process_iter(["cmdline"]):
            command = process.info["cmdline"] or []
            if ("autograde" in command and f"--student={student}" in command and process.pid not in killed
                    and graded_part1.exists()):
                process.kill()
                killed.append(process.pid)
        time.sleep(0.1)


def test_a_killed_grading_process_is_retried_and_nothing_else_changes(tmp_path_factory, submissions, expected,
                                                                        monkeypatch):
    """Killing the nbgrader process of one student is not the student's fault: the submission is
    graded again, with the same scores. Killed every time, it ends failed with nothing of it in
    the gradebook (not half its grades). Either way grading leaves the temporary folder as it
    found it: no records, answers, staged copies or mounts."""
    require_sandbox()
    temporary = tmp_path_factory.mktemp("temporary")
    monkeypatch.setenv("TMPDIR", str(temporary))
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    course = new_graded_course(tmp_path_factory.mktemp("killed"), submissions)
    killed = []
    killer = threading.Thread(target=kill_gradings_of, args=(course, "demo_tampered", 1, killed))
    killer.start()
    graded = ["demo_solution", "demo_tampered"]
    outcomes = by_student(parallel.grade_all(course, FAST, workers=2, students=graded, progress=False))
    killer.join()
    assert killed, "the test never found the nbgrader process to kill"
    assert outcomes["demo_tampered"].status == "graded" and outcomes["demo_tampered"].attempts == 2
    assert outcomes["demo_solution"].attempts == 1
    assert gradebook.scores(course) == {student: expected[student] for student in graded}
    assert list(temporary.iterdir()) == []

    killed.clear()
    killer = threading.Thread(target=kill_gradings_of, args=(course, "demo_tampered", GradingSettings().attempts, killed))
    killer.start()
    (outcome,) = parallel.grade_all(course, FAST, workers=1, students=["demo_tampered"], force=True, progress=False)
    killer.join()
    assert len(killed) == GradingSettings().attempts and outcome.status == "failed" and "3 times" in outcome.reason, outcome
    assert "demo_tampered" not in gradebook.scores(course) and gradebook.scores(course)["demo_solution"] == expected["demo_solution"]
    assert list(temporary.iterdir()) == []


def test_the_command_reports_progress_and_notes(local_run):
    """`python -m grading grade` as an instructor runs it, on the graded course."""
    import subprocess
    import sys

    course, _ = local_run
    (course / "submitted/demo_not_json/cifar10/part1_data.ipynb").touch()  # same content: still unchanged
    result = subprocess.run([sys.executable, "-m", "grading", "grade", "--course", str(course), "--workers", "2"],
                            env=c.grading_env(FAST), capture_output=True, text=True, cwd=c.REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(STUDENTS)}/{len(STUDENTS)} done, 0 failed, 0 remaining" in result.stderr
    assert "\nlimits: " in "\n" + result.stderr  # which way the limits are enforced, and why
    assert "demo_not_json: part2_mlp.ipynb is not a readable notebook (NotJSONError" in result.stdout
    assert f"{len(STUDENTS)} unchanged" in result.stdout and str(course / report.REPORT) in result.stdout


def test_grading_refuses_to_start_without_a_sandbox_unless_told(tmp_path, monkeypatch):
    """Where bubblewrap is missing, the command says why and what to do, and grades nothing."""
    import subprocess
    import sys

    course = c.new_course(tmp_path / "course", NOTEBOOKS)
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    env = c.grading_env(FAST)
    env["PATH"] = f"{empty_path}:{os.path.dirname(sys.executable)}"  # no bwrap, no prlimit
    command = [sys.executable, "-m", "grading", "grade", "--course", str(course)]
    refused = subprocess.run(command, env=env, capture_output=True, text=True, cwd=c.REPO)
    assert refused.returncode == 2
    assert "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)" in refused.stderr
    assert "--no-sandbox" in refused.stderr and not (course / report.REPORT).exists()
    allowed = subprocess.run([*command, "--no-sandbox"], env=env, capture_output=True, text=True, cwd=c.REPO)
    assert allowed.returncode == 0, allowed.stderr
    assert "WARNING: grading without the sandbox" in allowed.stderr and (course / report.REPORT).exists()


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    """A real PostgreSQL server (Debian's package) on a Unix socket in a temporary folder, with an
    empty database; yields its SQLAlchemy URL and stops the server afterwards."""
    import glob
    import os
    import subprocess
    import tempfile

    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not binaries:
        unavailable("PostgreSQL is missing (sudo apt-get install -y postgresql; tools/run_tests.sh installs it where it can)")
    # Not under pytest's folder, which only root may enter: PostgreSQL refuses to run as root, so
    # as root it runs as the package's postgres user, who must reach its data and socket.
    folder = Path(tempfile.mkdtemp(prefix="gradebook-pg-"))
    as_server = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_server:
        shutil.chown(folder, "postgres")
    server = [*as_server, f"{binaries[-1]}/pg_ctl", "-D", str(folder / "data")]

    def run(*command):
        result = subprocess.run(command, capture_output=True, text=True)
        assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}"

    run(*as_server, f"{binaries[-1]}/initdb", "-D", str(folder / "data"), "-A", "trust", "-U", "postgres")
    run(*server, "-o", f"-k {folder} -c listen_addresses=''", "-l", str(folder / "server.log"), "-w", "start")
    try:
        run(*as_server, f"{binaries[-1]}/createdb", "-h", str(folder), "-U", "postgres", "gradebook")
        yield f"postgresql+psycopg://postgres@/gradebook?host={folder}"
    finally:
        run(*server, "-m", "fast", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def test_a_dask_cluster_writing_to_postgresql_gives_the_expected_scores(tmp_path_factory, submissions, expected,
                                                                        postgres):
    """Grading spread over machines: separate Dask worker processes, one PostgreSQL gradebook
    (SQLite on a shared file system is no place for several writers)."""
    from distributed import Client, LocalCluster

    require_sandbox()
    course = c.new_course(tmp_path_factory.mktemp("dask-postgres"), NOTEBOOKS)
    c.generate_release(course, database=postgres)
    for student in STUDENTS:
        c.submit(course, student, submissions / student)
    graded = ["demo_solution", "demo_not_json"]  # two are enough to keep both workers busy
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        pids = set(client.run(lambda: __import__("os").getpid()).values())
        outcomes = by_student(parallel.grade_all(course, FAST, scheduler=client, database=postgres, students=graded,
                                                 progress=False))
    assert len(pids) == 2  # two separate worker processes
    assert {outcome.status for outcome in outcomes.values()} == {"graded"}
    assert not (course / "gradebook.db").exists()  # everything went to PostgreSQL
    assert gradebook.scores(course, database=postgres) == {student: expected[student] for student in graded}


def test_hand_grades_survive_regrading_where_the_answer_is_the_same(tmp_path_factory, solution_run):
    """The instructor's points and comment on a written answer, and points given over an automatic
    score, survive grading the same submission again (the formgrader's Autograde button regrades
    with --force). When the student changes the written answer, its hand grade is not carried over:
    the answer waits for grading again, and the report says so."""
    from nbgrader.api import Gradebook

    require_sandbox()
    root = tmp_path_factory.mktemp("hand_grades")
    course = c.new_course(root / "course", ("part4_binary",))
    c.generate_release(course)
    student = solution_copy(solution_run, root / "demo_solution", ("part4_binary",))
    c.submit(course, "demo_solution", student)
    parallel.grade_all(course, FAST, workers=1, progress=False)
    answer, test = "binary_vs_ten_classes", "binary_data_shapes"
    with Gradebook(c.gradebook_url(course), c.COURSE_ID) as gradebook:
        gradebook.find_grade(answer, "part4_binary", c.ASSIGNMENT, "demo_solution").manual_score = 3
        gradebook.find_grade(test, "part4_binary", c.ASSIGNMENT, "demo_solution").manual_score = 1.5
        gradebook.find_comment(answer, "part4_binary", c.ASSIGNMENT, "demo_solution").manual_comment = "Good, but short."
        gradebook.db.commit()

    def given():
        with Gradebook(c.gradebook_url(course), c.COURSE_ID) as gradebook:
            grade = gradebook.find_grade(answer, "part4_binary", c.ASSIGNMENT, "demo_solution")
            override = gradebook.find_grade(test, "part4_binary", c.ASSIGNMENT, "demo_solution").manual_score
            comment = gradebook.find_comment(answer, "part4_binary", c.ASSIGNMENT, "demo_solution").manual_comment
            return grade.manual_score, grade.needs_manual_grade, override, comment

    (again,) = parallel.grade_all(course, FAST, workers=1, force=True, progress=False)
    assert again.status == "graded" and given() == (3, False, 1.5, "Good, but short."), given()
    demo.edit_cell(course / "submitted/demo_solution/cifar10/part4_binary.ipynb", answer,
                lambda source: source + "\n\nA second thought, added later.")
    (changed,) = parallel.grade_all(course, FAST, workers=1, progress=False)
    assert changed.status == "graded" and given() == (None, True, None, None), given()
    assert f"hand grade of part4_binary/{answer} not carried over: the answer changed since" in changed.signals
