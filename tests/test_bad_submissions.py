"""The corpus of bad submissions (grading/corpus.py), graded end to end in one sandboxed run.

Real nbgrader, kernels, Keras and data, on a course of Parts 1 and 2 in fast mode. Every bad
submission gets exactly its expected scores and a message its student can act on; the solution,
graded in the same run with two workers, gets exactly what it gets when graded alone; the run
goes on past every fault; nothing outside a submission's own folder changes.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from pathlib import Path

import nbformat
import pytest

from conftest import FULL_COPY, require_sandbox
from grading import corpus
from grading import course as c
from grading import parallel
from grading.sandbox import Limits
from test_parallel import FAST

pytestmark = pytest.mark.slow
LIMITS = Limits(memory_mb=3072, processes=256, cpu_cores=1, cpu_seconds=300)
# Short enough that the endless loop costs little, long enough for a fast-mode cell on a busy machine.
OPTIONS = ("--Execute.timeout=30", "--GuardedExecute.notebook_budget=300")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Every corpus submission and the solution, graded in one run; plus what the test watched."""
    if not FULL_COPY:
        pytest.skip("CIFAR10_PATH is not set: the notebooks need CIFAR-10")
    require_sandbox()
    root = tmp_path_factory.mktemp("corpus")
    course = c.new_course(root / "course", corpus.NOTEBOOKS)
    release = c.generate_release(course)
    solution = c.copy_clean(course / "source" / c.ASSIGNMENT, root / "demo_solution")
    c.execute_notebooks(solution, FAST, names=corpus.NOTEBOOKS)
    c.submit(course, "demo_solution", solution)
    c.submit(course, "demo_blank", release)

    # A server on the grading machine that a submission tries to reach; it counts connections.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    connections = []
    threading.Thread(target=lambda: connections.append(server.accept()), daemon=True).start()
    watched = [course / "submitted/demo_solution/cifar10/part1_data.ipynb", course / "source/cifar10/part2_mlp.ipynb"]
    targets = [str(path) for path in watched] + [str(course / "gradebook.db"), "../../demo_solution/cifar10/part1_data.ipynb",
                                                 "../../../gradebook.db", "../../../source/cifar10/part1_data.ipynb"]
    made = corpus.make(root / "bad", solution, {"port": server.getsockname()[1], "targets": targets})
    for student, folder in made.items():
        c.submit(course, student, folder)
    before = {path: digest(path) for path in watched}

    outcomes = {o.student: o for o in parallel.grade_all(course, FAST, workers=2, progress=False, limits=LIMITS,
                                                         nbgrader_options=OPTIONS)}
    server.close()
    return course, outcomes, {"connections": connections, "before": before}


def seen_by_student(course: Path, student: str, outcome) -> str:
    """Everything the student is shown: the graded notebooks' outputs and the report's notes."""
    texts = [outcome.notes]
    for path in sorted((course / "autograded" / student / c.ASSIGNMENT).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            for output in cell.get("outputs", []):
                texts.append(output.get("text", "") + output.get("ename", "") + ": " + output.get("evalue", "")
                             + json.dumps(output.get("data", {}).get("text/plain", "")))
    return "\n".join(texts)


@pytest.mark.parametrize("bad", corpus.CORPUS, ids=lambda bad: bad.student)
def test_each_bad_submission_gets_its_score_and_a_message(graded, bad):
    course, outcomes, _ = graded
    outcome = outcomes[bad.student]
    scores = c.scores(course)[bad.student]
    assert outcome.status == "graded", outcome.reason
    assert {name: scores[name].score for name in corpus.NOTEBOOKS} == bad.scores, (bad.what, outcome)
    assert bad.message in seen_by_student(course, bad.student, outcome), bad.what
    assert bad.violation in outcome.sandbox_violations, outcome.sandbox_violations


def test_the_solution_graded_beside_them_gets_what_it_gets_alone(graded, tmp_path):
    course, outcomes, _ = graded
    alone = c.new_course(tmp_path / "alone", corpus.NOTEBOOKS)
    c.generate_release(alone)
    c.submit(alone, "demo_solution", course / "submitted/demo_solution/cifar10")
    c.autograde(alone, ["demo_solution"], FAST)
    assert c.scores(course)["demo_solution"] == c.scores(alone)["demo_solution"]
    assert sum(score.score for score in c.scores(alone)["demo_solution"].values()) == sum(corpus.FULL.values())
    assert {name: score.score for name, score in c.scores(course)["demo_blank"].items()} == dict.fromkeys(corpus.NOTEBOOKS, 0)


def test_nothing_outside_a_submission_changed_and_no_connection_got_through(graded):
    course, outcomes, watched = graded
    assert watched["connections"] == []
    for path, before in watched["before"].items():
        assert digest(path) == before, f"{path} was changed by a submission"
    assert b"overwritten by a student" not in (course / "gradebook.db").read_bytes()


def test_the_report_counts_timeouts_deaths_and_violations(graded):
    course, outcomes, _ = graded
    assert outcomes["demo_endless_loop"].cell_timeouts == 1
    assert outcomes["demo_memory_hog"].kernel_deaths == 1
    assert "it ran out of memory" in outcomes["demo_memory_hog"].notes
    clean = outcomes["demo_solution"]
    assert (clean.cell_timeouts, clean.kernel_deaths, clean.sandbox_violations, clean.notes) == (0, 0, "", "")
    flooded = course / "autograded/demo_output_flood/cifar10/part1_data.ipynb"
    assert flooded.stat().st_size < 6_000_000  # 30 MB printed, at most 5 MB kept
