"""The corpus of bad submissions and the red team (tests/corpus.py), graded end to end in one
sandboxed run; then the submissions that run into the limits, graded again with the watchdog
instead of cgroups; a submission that switches the run mode, graded in full mode, and a
resubmission that runs out of time.

Real nbgrader, kernels, Keras and data, on a course of Parts 1 and 2 in fast mode. Every bad
submission gets exactly its expected scores and a message its student can act on, and never sees
what it must not; the solution, graded in the same run with two workers, gets exactly what it
gets when graded alone; the run goes on past every fault; nothing outside a submission's own
folder changes: canary files (one readable by root only) keep their content and mode, other
students' folders and the gradebook's other rows stay as they were, and no feedback or graded
folder holds a copy of the gradebook, the hidden tests or a canary.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
import socket
import stat
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat
import pytest

from cifar10_course.accuracy_checks import ACCURACY_MIME
from conftest import FAST, formgrader, max_points, require_sandbox, solution_copy
import corpus
from grading import course as c
from grading import demo, gradebook
from grading import parallel
from grading import report
from grading.sandbox import Limits

pytestmark = pytest.mark.slow
LIMITS = Limits(memory_mb=3072, processes=256, cpu_cores=1, cpu_seconds=300, disk_mb=256, files=5000)
# Short enough that the endless loop costs little, long enough for a fast-mode cell on a busy machine.
OPTIONS = ("--Execute.timeout=20", "--GuardedExecute.notebook_budget=300")
EVERYONE = corpus.CORPUS + corpus.RED_TEAM + corpus.VARIANTS + corpus.FAIR
# The students whose feedback is made and checked: those that leave notes, links, output or scripts.
FEEDBACK_CHECKED = ["demo_rt_submitted_links", "demo_rt_planted_links", "demo_rt_dev_zero_notebook", "demo_rt_script",
                    "demo_rt_many_files", "demo_rt_output_tricks", "demo_snooper", "demo_solution", "demo_rt_xss"]


class Beacon(ThreadingHTTPServer):
    """A server on the grading machine that hostile pages call: every request it gets is a script
    of a student's that ran in a browser."""

    def __init__(self):
        self.calls = []
        beacon = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                beacon.calls.append(self.path)
                self.send_response(204)
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def folder_digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (digest(p), stat.S_IMODE(p.stat().st_mode))
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


def corpus_course(root: Path, solution_run: Path) -> tuple[Path, Path, Path]:
    """A course of the corpus's notebooks in ``root``: the course, its release and a copy of the
    solution that has run (the sandbox must work here, else the test skips)."""
    require_sandbox()
    course = c.new_course(root / "course", corpus.NOTEBOOKS)
    release = c.generate_release(course)
    return course, release, solution_copy(solution_run, root / "demo_solution", corpus.NOTEBOOKS)


@pytest.fixture(scope="module")
def graded(tmp_path_factory, solution_run):
    """Every bad submission and the solution, graded in one run; plus what the test watched."""
    root = tmp_path_factory.mktemp("corpus")
    course, release, solution = corpus_course(root, solution_run)
    c.submit(course, "demo_solution", solution)
    c.submit(course, "demo_blank", release)

    # Canaries outside the course: one anybody may read, one only root may read.
    canaries = root / "canaries"
    canaries.mkdir()
    (canaries / "public.txt").write_text("a canary")
    root_only = canaries / "root_only.txt"
    root_only.write_text("root's secret")
    root_only.chmod(0o600)
    # A server on the grading machine that a submission tries to reach; it counts connections.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    connections = []
    threading.Thread(target=lambda: connections.append(server.accept()), daemon=True).start()
    beacon = Beacon()
    other = course / "submitted/demo_solution/cifar10"
    watched = [other / "part1_data.ipynb", course / "source/cifar10/part2_mlp.ipynb"]
    targets = [str(path) for path in watched] + [str(course / "gradebook.db"), "../../demo_solution/cifar10/part1_data.ipynb",
                                                 "../../../gradebook.db", "../../../source/cifar10/part1_data.ipynb"]
    hidden = [str(c.REPO / "grading/checker/part1_data.py"), str(course / "source/cifar10/part1_data.ipynb"),
              str(course / "gradebook.db")]
    context = {"port": server.getsockname()[1], "beacon": beacon.url, "data": FAST["CIFAR10_PATH"], "targets": targets,
               "hidden": hidden,
               "gradebook": str(course / "gradebook.db"), "source": str(course / "source"),
               "other_notebook": str(other / "part1_data.ipynb"), "other_weights": str(other / corpus.WEIGHTS),
               "root_only": str(root_only),
               "links": [("part2_mlp.ipynb", str(other / "part2_mlp.ipynb")), ("part1_data.ipynb", str(course / "gradebook.db")),
                         ("src", str(course / "source")), ("root_only", str(root_only))]}
    made = corpus.make(root / "bad", solution, context, EVERYONE, release=release)
    for student, folder in made.items():
        c.submit(course, student, folder)
    corpus.after_submission(course, context, EVERYONE)
    before = {"files": {path: digest(path) for path in watched}, "other": folder_digest(other),
              "canaries": folder_digest(canaries)}

    outcomes = {o.student: o for o in parallel.grade_all(course, FAST, workers=2, progress=False, limits=LIMITS,
                                                         nbgrader_options=OPTIONS)}
    server.close()
    demo.generate_feedback(course, FEEDBACK_CHECKED)
    return course, outcomes, {"connections": connections, "before": before, "other": other, "canaries": canaries,
                              "beacon": beacon}


def seen_by_student(course: Path, student: str, outcome) -> str:
    """Everything the student is shown: the graded notebooks' outputs and the report's notes."""
    texts = [outcome.notes]
    for path in sorted((course / "autograded" / student / c.ASSIGNMENT).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            for output in cell.get("outputs", []):
                texts.append(output.get("text", "") + output.get("ename", "") + ": " + output.get("evalue", "")
                             + json.dumps(output.get("data", {}).get("text/plain", "")))
    return "\n".join(texts)


@pytest.mark.parametrize("bad", EVERYONE, ids=lambda bad: bad.student)
def test_each_bad_submission_gets_its_score_and_a_message(graded, bad):
    course, outcomes, _ = graded
    outcome = outcomes[bad.student]
    scores = gradebook.scores(course)[bad.student]
    assert outcome.status == "graded", outcome.reason
    assert {name: scores[name].score for name in corpus.NOTEBOOKS} == bad.scores, (bad.what, outcome)
    seen = seen_by_student(course, bad.student, outcome)
    assert bad.message in seen, bad.what
    assert bad.ran in seen, f"the attack did not run, so it tests nothing: {bad.what}"
    assert not bad.forbidden or bad.forbidden not in seen, bad.what
    assert bad.violation in outcome.sandbox_violations, outcome.sandbox_violations
    assert bad.signal in outcome.signals, outcome.signals


def test_signals_for_the_instructor_have_no_false_positives(graded):
    """Only the submissions built to raise a signal raise one, beside the identical weights files:
    every submission that kept the solution's weights holds a copy of one file, and says so."""
    course, outcomes, _ = graded
    allowed = {bad.student: [bad.signal] for bad in EVERYONE if bad.signal}
    # Its notebook's outputs are the honest solution's: the accuracy it printed is not the one measured;
    # its function's record shows the required settings, its weights file others.
    allowed["demo_retrains_on_test"] += ["weights locked", "in the notebook", "disagree"]
    # Weights the corpus saved without training them (the training cell saves the optimizer's state too).
    for student in ("demo_weights_wrong_architecture", "demo_rt_labels_as_predictions", "demo_rt_model_switch"):
        allowed.setdefault(student, []).append("holds no optimizer state")
    solution_weights = digest(course / "submitted/demo_solution/cifar10" / corpus.WEIGHTS)
    for student, outcome in outcomes.items():
        signals = [found for found in outcome.signals.split("; ") if found]
        own = [found for found in signals if " identical to " not in found]
        assert all(any(phrase in found for phrase in allowed.get(student, [])) for found in own), (student, own)
        weights = course / "submitted" / student / "cifar10" / corpus.WEIGHTS
        copied = weights.is_file() and not weights.is_symlink() and digest(weights) == solution_weights
        assert copied == any("part2_mlp.weights.h5 identical to that of" in found for found in signals), (student, signals)


@pytest.mark.parametrize("bad", [bad for bad in EVERYONE if bad.failing is not None], ids=lambda bad: bad.student)
def test_a_mistake_costs_its_own_points_and_no_others(graded, bad):
    """Every graded cell of the notebooks a bad submission holds passes, except those of its mistake."""
    course, _, _ = graded
    scores = gradebook.scores(course)[bad.student]
    solution = gradebook.scores(course)["demo_solution"]
    submitted = {"part1": ["part1_data"], "part2": ["part2_mlp"]}.get(bad.base, corpus.NOTEBOOKS)
    for notebook in submitted:
        grades = scores[notebook].grades
        assert {grade_id for grade_id, points in grades.items() if points == 0} == (set(bad.failing) & set(grades)), (
            bad.what, grades)
        assert all(grades[grade_id] == solution[notebook].grades[grade_id] for grade_id in grades
                   if grade_id not in bad.failing), bad.what


def test_the_solution_graded_beside_them_gets_every_point_and_the_blank_none(graded):
    course, outcomes, _ = graded
    solution = gradebook.scores(course)["demo_solution"]
    for name in corpus.NOTEBOOKS:
        assert solution[name].score == solution[name].max_score == corpus.FULL[name], solution[name].grades
    assert {name: score.score for name, score in gradebook.scores(course)["demo_blank"].items()} == dict.fromkeys(corpus.NOTEBOOKS, 0)


def test_nothing_outside_a_submission_changed_and_no_connection_got_through(graded):
    course, outcomes, watched = graded
    assert watched["connections"] == []
    for path, before in watched["before"]["files"].items():
        assert digest(path) == before, f"{path} was changed by a submission"
    assert folder_digest(watched["other"]) == watched["before"]["other"]  # another student's whole folder
    assert folder_digest(watched["canaries"]) == watched["before"]["canaries"]  # content and mode, root-only too
    assert b"overwritten by a student" not in (course / "gradebook.db").read_bytes()


def test_no_graded_or_feedback_folder_holds_what_a_link_pointed_at(graded):
    course, outcomes, watched = graded
    gradebook, secret = digest(course / "gradebook.db"), "root's secret"
    for folder in ("autograded", "feedback"):
        for path in (course / folder).rglob("*"):
            assert not path.is_symlink(), path
            if path.is_file():
                content = path.read_bytes()
                assert secret.encode() not in content, path
                assert not content.startswith(b"SQLite format"), path
                assert path.suffix != ".db" or digest(path) != gradebook, path
    notes = outcomes["demo_rt_submitted_links"].notes
    for name in ("gradebook.db", "source_copy", "other_student.ipynb", "root_only.txt", "zero.bin",
                 "trained_models/part2_mlp.weights.h5"):
        assert f"{name} was left out: it is a symbolic link" in notes, name
    assert "grades_copy.db was left out: it is a hard link" in notes and "pipe was left out: it is a FIFO" in notes


def test_answers_of_60_mb_cost_the_grader_a_few_hundred_mb_and_only_their_own_tests(graded):
    """The kernel's answers are measured before anything parses them (the checker parses them,
    in its own memory bound); the grading process itself stays small."""
    _, outcomes, _ = graded
    huge = outcomes["demo_rt_huge_answer"]
    assert 0 < huge.grader_memory_mb < 500, huge
    assert outcomes["demo_rt_many_objects"].grader_memory_mb < 500


def test_the_report_counts_timeouts_deaths_and_violations(graded):
    course, outcomes, _ = graded
    assert outcomes["demo_endless_loop"].cell_timeouts == 1
    assert outcomes["demo_memory_hog"].kernel_deaths == 1
    assert "it ran out of memory" in outcomes["demo_memory_hog"].notes
    clean = outcomes["demo_solution"]
    assert (clean.cell_timeouts, clean.kernel_deaths, clean.sandbox_violations, clean.notes) == (0, 0, "", "")
    for student in ("demo_output_flood", "demo_rt_output_tricks"):
        flooded = course / f"autograded/{student}/cifar10/part1_data.ipynb"
        assert flooded.stat().st_size < 6_000_000  # 30 MB printed, at most 5 MB kept


def test_feedback_holds_no_script_of_a_student(graded):
    from test_feedback import active_code

    course, _, _ = graded
    for page in (course / "feedback").rglob("*.html"):
        assert active_code(page.read_text()) == [], page
    page = (course / "feedback/demo_rt_script/cifar10/part1_data.html").read_text()
    assert "<b>answer</b>" in page and "pwned by a student" in page  # shown as text, not run
    assert (course / "feedback/demo_rt_many_files/cifar10/grading_notes.html").is_file()


def test_no_script_of_a_student_runs_in_the_formgrader_or_a_feedback_page(graded, tmp_path):
    """demo_rt_xss carries scripts in an image's width and height, an SVG, markdown and HTML
    outputs, a markdown cell's links and HTML, a grade id and an HTML file it hands in. Opened in
    Chromium, the formgrader's page of its notebook (as the instructor, logged in), that file in
    the formgrader, its feedback page, and the formgrader's page of every other notebook of the
    corpus and every feedback page written run none of them: the beacon they call hears nothing,
    no title changes, no dialog opens. The pages still show the student's work, and the
    formgrader's own scripts still run (they show the scores)."""
    from playwright.sync_api import expect, sync_playwright

    from test_hub_browser import CHROMIUM, CHROMIUM_ARGS, require_chromium

    require_chromium()
    course, _, watched = graded
    beacon = watched["beacon"]
    graded_notebook = (course / "autograded/demo_rt_xss/cifar10/part1_data.ipynb").read_text()
    assert "1 onerror=" in graded_notebook and "javascript:" in graded_notebook  # the attacks are in the notebook
    assert "autofocus onfocus" in (course / "submitted/demo_rt_xss/cifar10/part1_data.ipynb").read_text()
    assert "autofocus onfocus" not in graded_notebook  # the cell with the forged grade id became the student's own
    with formgrader(course, tmp_path) as call, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        dialogs = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        errors = []  # a script of the page that failed (nbgrader's need MathJax, from a CDN)
        page.on("pageerror", lambda error: errors.append(str(error)))
        pages = {row["student"] + "/" + name: f"{call.url}/formgrader/submissions/{row['id']}/"
                 for name in corpus.NOTEBOOKS for row in call(f"/submitted_notebooks/{c.ASSIGNMENT}/{name}")}
        submission = pages["demo_rt_xss/part1_data"]
        response = page.goto(submission)
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_selector("text=html answer")  # the student's work is shown
        # nbgrader's own scripts ran: they put the automatic score into the score field
        expect(page.locator("input.score").first).to_have_attribute("placeholder", re.compile(r"\d"))
        page.wait_for_timeout(1500)
        assert page.title() == "part1_data" and not dialogs
        assert errors == [] and page.evaluate("document.activeElement.classList.contains('tabbable')"), errors
        response = page.goto(submission + "evil.html")
        assert response.status == 200 and "sandbox" in response.headers["content-security-policy"]
        page.wait_for_timeout(1000)
        page.goto((course / "feedback/demo_rt_xss/cifar10/part1_data.html").as_uri())
        page.wait_for_selector("text=html answer")
        page.wait_for_timeout(1500)
        assert page.title() != "pwned" and not dialogs
        others = [*pages.values(), *(path.as_uri() for path in sorted((course / "feedback").rglob("*.html")))]
        for address in others:
            page.goto(address, wait_until="load")
            assert page.title() != "pwned" and not dialogs, address
        page.wait_for_timeout(1000)
        browser.close()
    assert len(others) > 60 and beacon.calls == [], beacon.calls


# -- the watchdog instead of cgroups ----------------------------------------------------------------

# The submissions that run into the limits: graded again with the watchdog (forced, as root).
LIMITED = [bad for bad in EVERYONE if bad.student in ("demo_endless_loop", "demo_memory_hog", "demo_fork_bomb",
                                                      "demo_rt_fill_disk")]
# Root is exempt from RLIMIT_NPROC: the watchdog kills the fork bomb instead of refusing its forks
# (or kills it for memory, if its copies fill it first: both are the watchdog's action, named).
WATCHDOG_KILLS = {"demo_fork_bomb": {"process limit x1": "it ran more than 256 processes and threads at once",
                                     "memory limit x1": "it ran out of memory"}}


@pytest.fixture(scope="module")
def graded_by_watchdog(tmp_path_factory, solution_run):
    """The submissions in LIMITED, graded in one run with the watchdog instead of cgroups."""
    root = tmp_path_factory.mktemp("watchdog")
    course, release, solution = corpus_course(root, solution_run)
    for student, folder in corpus.make(root / "bad", solution, {}, LIMITED, release=release).items():
        c.submit(course, student, folder)
    outcomes = parallel.grade_all(course, FAST, workers=2, progress=False, limits=LIMITS, nbgrader_options=OPTIONS,
                                  limits_way="watchdog")
    return course, {outcome.student: outcome for outcome in outcomes}


@pytest.mark.parametrize("bad", LIMITED, ids=lambda bad: bad.student)
def test_the_watchdog_gives_the_scores_and_messages_that_cgroups_give(graded_by_watchdog, bad):
    """The same scores and messages as with cgroups (test_each_bad_submission_gets_its_score_and_a_message),
    and a violation that names what the watchdog did."""
    course, outcomes = graded_by_watchdog
    outcome = outcomes[bad.student]
    assert outcome.status == "graded", outcome.reason
    scores = gradebook.scores(course)[bad.student]
    assert {name: scores[name].score for name in corpus.NOTEBOOKS} == bad.scores, (bad.what, outcome)
    seen = seen_by_student(course, bad.student, outcome)
    assert bad.message in seen, bad.what
    kills = WATCHDOG_KILLS.get(bad.student)
    if kills is None:
        assert bad.violation in outcome.sandbox_violations, outcome.sandbox_violations
    else:
        named = [violation for violation in kills if violation in outcome.sandbox_violations]
        assert len(named) == 1 and kills[named[0]] in seen, (outcome.sandbox_violations, outcome.notes)
        assert outcome.kernel_deaths == 1 and outcome.cell_timeouts == 0, outcome  # killed, not wedged


# -- the run mode belongs to the grader ------------------------------------------------------------

def test_a_kernel_that_switches_to_fast_mode_is_still_graded_in_full_mode(graded, tmp_path):
    """Weights trained in fast mode (about 0.29) under full-mode grading (threshold 0.40), with a
    cell that sets COURSE_MODE=fast: the kernel's own accuracy test uses the fast threshold, the
    checker does not."""
    course, _, _ = graded
    full = c.new_course(tmp_path / "full", ("part2_mlp",))
    c.generate_release(full)
    student = tmp_path / "demo_rt_fast_mode"
    shutil.copytree(course / "submitted/demo_solution/cifar10", student)
    (student / "part1_data.ipynb").unlink()
    corpus.insert_after(student, "part2_mlp", "setup", "import os\nos.environ['COURSE_MODE'] = 'fast'")
    c.submit(full, "demo_rt_fast_mode", student)
    (outcome,) = parallel.grade_all(full, {**FAST, "COURSE_MODE": "full"}, workers=1, progress=False, limits=LIMITS,
                                    nbgrader_options=OPTIONS)
    assert outcome.status == "graded", outcome.reason
    grades = gradebook.scores(full)["demo_rt_fast_mode"]["part2_mlp"].grades
    # The accuracy falls short of full mode's threshold, and the fast budget it trained with is not full mode's.
    assert grades["multilayer_nn_accuracy"] == 0 and grades["train_multilayer_nn_settings"] == 0
    assert sum(grades.values()) == 5
    graded_notebook = nbformat.read(full / "autograded/demo_rt_fast_mode/cifar10/part2_mlp.ipynb", as_version=4)
    shown = json.dumps([cell.get("outputs", []) for cell in graded_notebook.cells])
    assert "on 10,000 test images" in shown and "needed: above 0.40 in full mode" in shown


# -- a failed grading leaves nothing old behind ------------------------------------------------------

def test_a_resubmission_that_runs_out_of_time_leaves_no_old_score(graded, tmp_path):
    course, _, _ = graded
    small = c.new_course(tmp_path / "resubmit", ("part1_data",))
    c.generate_release(small)
    first_version = tmp_path / "first"
    shutil.copytree(course / "submitted/demo_solution/cifar10", first_version, ignore=shutil.ignore_patterns("part2*"))
    c.submit(small, "demo_rt_resubmitted", first_version)
    (first,) = parallel.grade_all(small, FAST, workers=1, progress=False, limits=LIMITS, nbgrader_options=OPTIONS)
    assert first.status == "graded" and gradebook.scores(small)["demo_rt_resubmitted"]["part1_data"].score == 7

    # The new version's Part 1 sleeps past the submission's budget.
    budget = 6
    resubmitted = tmp_path / "second"
    shutil.copytree(first_version, resubmitted)
    corpus.insert_after(resubmitted, "part1_data", "class_counts", "import time\ntime.sleep(120)")
    c.submit(small, "demo_rt_resubmitted", resubmitted)
    (second,) = parallel.grade_all(small, FAST, workers=1, progress=False, limits=LIMITS, budget_seconds=budget,
                                   nbgrader_options=OPTIONS)
    assert second.status == "failed" and "time budget" in second.reason
    assert "demo_rt_resubmitted" not in gradebook.scores(small)  # no score of the old version beside the new notebooks
    assert not (small / "autograded/demo_rt_resubmitted").exists() or not any(
        (small / "autograded/demo_rt_resubmitted").rglob("*.ipynb"))
    demo.generate_feedback(small)
    notes = (small / "feedback/demo_rt_resubmitted/cifar10/grading_notes.html").read_text()
    assert "could not be graded, so no score was recorded" in notes and "time budget" in notes

    # Unchanged since it failed: not graded again unless the instructor asks.
    start = time.perf_counter()
    (third,) = parallel.grade_all(small, FAST, workers=1, progress=False, limits=LIMITS, budget_seconds=budget,
                                  nbgrader_options=OPTIONS)
    assert third.status == "failed" and "--retry-failed" in third.reason and time.perf_counter() - start < 10
    start = time.perf_counter()
    (fourth,) = parallel.grade_all(small, FAST, workers=1, progress=False, limits=LIMITS, budget_seconds=budget,
                                   retry_failed=True, nbgrader_options=OPTIONS)
    assert fourth.status == "failed" and time.perf_counter() - start >= budget  # graded again, for its whole budget


def test_a_resubmission_with_metadata_and_outputs_the_grader_cannot_read_keeps_no_old_score(graded, tmp_path):
    """A blank second version whose cells carry ``"nbgrader": 1`` and a saved output that reads like
    an accuracy but holds no number: it is graded as what it is (0 points), never left with the
    first version's 7 points, and the unreadable metadata becomes the student's own cell."""
    course, _, _ = graded
    small = c.new_course(tmp_path / "resubmit", ("part1_data",))
    release = c.generate_release(small)
    first_version = tmp_path / "first"
    shutil.copytree(course / "submitted/demo_solution/cifar10", first_version, ignore=shutil.ignore_patterns("part2*"))
    c.submit(small, "demo_rt_unreadable_v2", first_version)
    (first,) = parallel.grade_all(small, FAST, workers=1, progress=False, limits=LIMITS, nbgrader_options=OPTIONS)
    assert first.status == "graded" and gradebook.scores(small)["demo_rt_unreadable_v2"]["part1_data"].score == 7

    second = tmp_path / "second"
    shutil.copytree(release, second)
    path = second / "part1_data.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[0].metadata["nbgrader"] = 1
    odd = nbformat.v4.new_code_cell("print('done')")
    odd.outputs = [nbformat.v4.new_output("display_data", data={ACCURACY_MIME: {"accuracy": "0.5", "test_images": ","}})]
    odd.metadata["nbgrader"] = {"grade_id": "multilayer_nn_accuracy", "grade": True}  # a grade id of no cell here
    notebook.cells.append(odd)
    nbformat.write(notebook, path)
    c.submit(small, "demo_rt_unreadable_v2", second)
    (again,) = parallel.grade_all(small, FAST, workers=1, progress=False, limits=LIMITS, nbgrader_options=OPTIONS)
    assert again.status == "graded", again.reason
    assert gradebook.scores(small)["demo_rt_unreadable_v2"]["part1_data"].score == 0


def test_a_second_run_finds_every_submission_unchanged_even_with_files_left_out(graded):
    """A submission whose staging left files out (links, a FIFO, too many files) matches its
    receipt; grading one student keeps every other student's row in the report."""
    course, outcomes, _ = graded
    again = {o.student: o for o in parallel.grade_all(course, FAST, workers=2, progress=False, limits=LIMITS,
                                                      students=["demo_solution"], nbgrader_options=OPTIONS)}
    assert again["demo_solution"].status == "unchanged"
    with open(course / report.REPORT) as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(outcomes)
    for student in ("demo_rt_submitted_links", "demo_rt_many_files", "demo_rt_dev_zero_notebook"):
        assert rows[student]["status"] == "unchanged", rows[student]


def test_a_mistake_in_per_class_recall_costs_its_own_tests_only(solution_run, tmp_path):
    """Part 6, graded end to end, with per_class_recall giving 0 instead of nan for a class without
    images: its two tests fail (4 points); balanced_accuracy and recall_drop, which call it, are
    graded with the task's own per_class_recall and keep theirs. (Before: 3 more points lost.)"""
    require_sandbox()
    course = c.new_course(tmp_path / "part6", ("part6_bias",))
    c.generate_release(course)
    student = solution_copy(solution_run, tmp_path / "demo_fair_recall", ("part6_bias",))
    demo.edit_cell(student / "part6_bias.ipynb", "per_class_recall",
                lambda source: source.replace("np.full(num_classes, np.nan)", "np.zeros(num_classes)"))
    c.submit(course, "demo_fair_recall", student)
    (outcome,) = parallel.grade_all(course, FAST, workers=1, progress=False, limits=LIMITS, nbgrader_options=OPTIONS)
    assert outcome.status == "graded", outcome.reason
    grades = gradebook.scores(course)["demo_fair_recall"]["part6_bias"].grades
    automatic = {grade_id: points for grade_id, points in max_points("part6_bias").items() if grades[grade_id] is not None}
    assert {grade_id for grade_id in automatic if grades[grade_id] == 0} == {"per_class_recall_example",
                                                                            "per_class_recall_cases"}, grades
    assert all(grades[grade_id] == points for grade_id, points in automatic.items()
               if not grade_id.startswith("per_class_recall")), grades
