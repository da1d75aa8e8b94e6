"""The semester as its users live it, in a real browser: a JupyterHub with nbgrader's exchange.

``python -m grading.hub`` sets up the course's hub on this machine (system users, the exchange, the
instructor's copy of the course; Parts 1, 2 and 4 in fast mode, to keep CI short) and Playwright
drives Debian's Chromium through one round, each step as its user would take it:

1. the instructor generates and releases the assignment in the formgrader;
2. two students log in and fetch it from the Assignments panel;
3. demo_ada types her answers to Parts 1 and 2 and a written answer of Part 4 into the notebooks,
   runs them, validates (the dialog says success) and submits; demo_ben submits the notebooks as
   he fetched them;
4. the instructor collects, autogrades both with the formgrader's Autograde button (the sandboxed
   grader, run as the instructor, not as root), hand-grades demo_ada's written answer, and
   generates and releases the feedback;
5. each student fetches the feedback and sees their own score, and no line of the hidden tests.

Each step's time is printed and written to ``timings.json``; on a failure, a screenshot of every
open page goes to the folder the failure message names. Needs root (the hub creates system users)
and Debian's ``chromium`` (``.ci/run`` installs it).
"""

from __future__ import annotations

import csv
import json
import os
import pwd
import re
import socket
import subprocess
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

from grading import course as c
from grading import hub as h

pytestmark = pytest.mark.slow
NOTEBOOKS = ["part1_data", "part2_mlp", "part4_binary"]
TYPED = ["part1_data", "part2_mlp"]  # demo_ada's answers, typed into the editor
WRITTEN_ANSWER = ("part4_binary", "Mistakes cost more for rare classes, so accuracy alone hides them.")
PASSWORD = "demo-password-1"
CHROMIUM = "/usr/bin/chromium"
# Chromium as root in a container; no calls home (this machine has no internet).
CHROMIUM_ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
SCREENSHOTS = Path(os.environ.get("BROWSER_SCREENSHOTS", Path(tempfile.gettempdir()) / "cifar10-browser-test"))


def free_port() -> int:
    """A free port with the two above it free too (the hub's API and the proxy's)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if all(_free(port + offset) for offset in (1, 2)):
            return port
    raise RuntimeError("no three free ports in a row")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture(scope="module")
def hub():
    if os.geteuid() != 0:
        pytest.skip("the hub creates system users and starts their servers: run as root (CI does)")
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: apt-get install chromium (.ci/run does)"
    setup = h.Hub(root=os.environ.get("HUB_TEST_ROOT", "/var/tmp/cifar10-hub-test"), port=free_port(), mode="fast",
                  notebooks=NOTEBOOKS)
    start = time.perf_counter()
    h.setup(setup, Path(os.environ["CIFAR10_PATH"]), {user: PASSWORD for user in [setup.instructor, *setup.students]},
            reset=True)
    set_up_seconds = time.perf_counter() - start
    log = open(Path(setup.root) / "state" / "hub.log", "w")
    process = h.start(setup, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{setup.url}/hub/api", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        yield setup, set_up_seconds
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()


class Round:
    """The browser, one page per user, the timings, and screenshots when something fails."""

    def __init__(self, browser, hub: h.Hub):
        self.browser, self.hub, self.pages, self.timings = browser, hub, {}, {}

    @contextmanager
    def step(self, name: str):
        start = time.perf_counter()
        try:
            yield
        except BaseException:
            folder = SCREENSHOTS / re.sub(r"\W+", "_", name)
            folder.mkdir(parents=True, exist_ok=True)
            for user, page in self.pages.items():
                page.screenshot(path=str(folder / f"{user}.png"), full_page=True)
            print(f"\nbrowser test: step '{name}' failed; screenshots in {folder}")
            raise
        finally:
            self.timings[name] = round(time.perf_counter() - start, 1)

    def log_in(self, user: str):
        page = self.browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        page.set_default_timeout(60_000)
        self.pages[user] = page
        page.goto(f"{self.hub.url}/hub/login")
        page.fill("#username_input", user)
        page.fill("#password_input", PASSWORD)
        page.click("#login_submit")
        page.wait_for_url("**/lab**", timeout=120_000)
        page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
        page.get_by_role("menuitem", name="Nbgrader").wait_for()  # the lab extensions have loaded
        news = page.get_by_text("Would you like to get notified about official Jupyter news?")
        try:  # JupyterLab's question about news covers a corner of the page: answer it
            news.wait_for(timeout=5000)
            page.get_by_role("button", name="No", exact=True).click()
        except Exception:
            pass
        return page


# ---------------------------------------------------------------------------------------------
# The instructor's formgrader


def formgrader(page, hub: h.Hub, user: str, view: str = ""):
    page.goto(f"{hub.url}/user/{user}/formgrader{view}")
    return page


def click_and_confirm(page, cell, timeout: float = 60_000) -> str:
    """Click a formgrader action; return the text of the dialog it opens, closed again."""
    cell.locator("a").click()
    dialog = page.locator(".modal-dialog")
    dialog.wait_for(timeout=timeout)
    text = dialog.inner_text()
    dialog.locator(".modal-footer button").first.click()
    dialog.wait_for(state="detached")
    return text


def assignment_row(page):
    row = page.locator("tr:has(td.name:has-text('cifar10'))")
    row.wait_for()
    return row


# ---------------------------------------------------------------------------------------------
# The student's JupyterLab


def open_assignments(page) -> None:
    page.get_by_role("menuitem", name="Nbgrader").click()
    page.get_by_text("Assignment List").click()
    page.wait_for_selector("text=Released assignments")


def assignment_button(page, section: str, label: str):
    """A button of the cifar10 row in one section of the Assignments panel."""
    return page.locator(f"#{section} .list_item:has-text('cifar10') button:has-text('{label}')")


def solutions(name: str) -> dict[int, str]:
    """The instructor's answers to a notebook, by cell index, as a student would type them."""
    source = nbformat.read(c.REPO / "source" / c.ASSIGNMENT / f"{name}.ipynb", as_version=4)
    typed = {}
    for index, cell in enumerate(source.cells):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("solution") and not meta.get("grade"):
            lines = [line for line in cell.source.splitlines() if "### BEGIN SOLUTION" not in line
                     and "### END SOLUTION" not in line]
            typed[index] = "\n".join(lines)
    return typed


def cell_index(name: str, grade_id: str) -> int:
    release = nbformat.read(c.REPO / "source" / c.ASSIGNMENT / f"{name}.ipynb", as_version=4)
    return next(i for i, cell in enumerate(release.cells) if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def open_notebook(page, hub: h.Hub, user: str, name: str):
    page.goto(f"{hub.url}/user/{user}/lab/tree/{c.ASSIGNMENT}/{name}.ipynb")
    page.wait_for_selector(".jp-NotebookPanel:visible .jp-Cell")
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=120_000)
    # JupyterLab sometimes asks which kernel to start, also after a restored tab's kernel is idle:
    # the notebook's own, as a student picks.
    choose = page.locator(".jp-Dialog:has-text('Select Kernel')")
    try:
        choose.wait_for(timeout=3000)
        choose.get_by_role("button", name="Select").click()
        choose.wait_for(state="detached")
    except PlaywrightTimeout:
        pass
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=120_000)


def type_answers(page, answers: dict[int, str]) -> None:
    """Type each answer over the cell of that index, moving with the keyboard as a student does
    (JupyterLab only lays out the cells in view, so the cell is reached, not clicked)."""
    page.locator(".jp-NotebookPanel:visible .jp-Cell").first.click()
    page.keyboard.press("Escape")  # command mode, on the first cell
    current = 0
    for index, text in sorted(answers.items()):
        for _ in range(index - current):
            page.keyboard.press("ArrowDown")
        current = index
        page.keyboard.press("Enter")  # edit the cell (a rendered markdown cell opens its source)
        page.keyboard.press("Control+a")
        page.keyboard.insert_text(text)
        page.keyboard.press("Escape")


def run_all(page, timeout: float = 300_000) -> None:
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_text("Run All Cells", exact=True).click()
    deadline = time.monotonic() + timeout / 1000
    # Done when every code cell's prompt shows its execution count: none is [*] (queued or running)
    # or [ ] (not run).
    prompts = page.locator(".jp-NotebookPanel:visible .jp-CodeCell .jp-InputPrompt")
    while any(not re.fullmatch(r"\[\d+\]:", text.strip()) for text in prompts.all_text_contents()):
        assert time.monotonic() < deadline, "the notebook did not finish running: " + " ".join(prompts.all_text_contents())
        time.sleep(1)
    errors = page.locator(".jp-NotebookPanel:visible .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    assert errors.count() == 0, errors.first.inner_text()[:2000]


def save(page, saved: Path, text: str) -> None:
    """Save the notebook, and wait until the file on disk holds ``text``."""
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + 30
    while text not in saved.read_text():
        assert time.monotonic() < deadline, f"{saved} was not saved with the answer typed"
        time.sleep(0.5)


def validate(page) -> str:
    """Press Validate (which saves the notebook first, then validates it); the dialog's text."""
    page.locator(".jp-NotebookPanel:visible .jp-Toolbar").get_by_text("Validate", exact=True).click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=300_000)
    text = dialog.inner_text()
    dialog.locator("button").last.click()
    return text


def manual_score(hub: h.Hub, student: str) -> float | None:
    """The points the instructor gave the student's written answer, as the gradebook holds them."""
    from nbgrader.api import Gradebook

    with Gradebook(c.gradebook_url(hub.course)) as gradebook:
        grade = gradebook.find_grade("binary_vs_ten_classes", WRITTEN_ANSWER[0], c.ASSIGNMENT, student)
        return grade.manual_score


def test_a_semester_round_in_the_browser(hub):

    setup, set_up_seconds = hub
    instructor, ada, ben = setup.instructor, *setup.students
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        round_ = Round(browser, setup)
        round_.timings["set up the hub (venv, proxy, users, course)"] = round(set_up_seconds, 1)

        with round_.step("1. instructor logs in, generates and releases the assignment"):
            page = round_.log_in(instructor)
            formgrader(page, setup, instructor)
            assert "Success" in click_and_confirm(page, assignment_row(page).locator("td.assign"))
            assert "Success" in click_and_confirm(page, assignment_row(page).locator("td.release"))
            assert assignment_row(page).locator("td.status").inner_text().strip() == "released"

        with round_.step("2. two students log in and fetch it"):
            for student in (ada, ben):
                page = round_.log_in(student)
                open_assignments(page)
                assignment_button(page, "released_assignments_list", "Fetch").click()
                assignment_button(page, "fetched_assignments_list", "Submit").wait_for()
                # No instructor tools for students.
                page.get_by_role("menuitem", name="Nbgrader").click()
                assert page.get_by_text("Formgrader").count() == 0
                page.keyboard.press("Escape")

        with round_.step("3a. demo_ada types, runs and validates Parts 1 and 2"):
            page = round_.pages[ada]
            for name in TYPED:
                open_notebook(page, setup, ada, name)
                type_answers(page, solutions(name))
                run_all(page)
                assert "Success! Your notebook passes all the tests." in validate(page)
            name, answer = WRITTEN_ANSWER
            open_notebook(page, setup, ada, name)
            type_answers(page, {cell_index(name, "binary_vs_ten_classes"): answer})
            save(page, Path(os.path.expanduser(f"~{ada}"), c.ASSIGNMENT, f"{name}.ipynb"), answer)

        with round_.step("3b. both submit"):
            for student in (ada, ben):
                page = round_.pages[student]
                open_assignments(page)
                assignment_button(page, "fetched_assignments_list", "Submit").click()
                page.wait_for_selector("#submitted_assignments_list .list_item:has-text('cifar10')")

        with round_.step("4a. instructor collects"):
            page = round_.pages[instructor]
            formgrader(page, setup, instructor)
            assert "Success" in click_and_confirm(page, assignment_row(page).locator("td.collect"))

        with round_.step("4b. instructor autogrades both in the sandbox (formgrader's Autograde button)"):
            formgrader(page, setup, instructor, f"/manage_submissions/{c.ASSIGNMENT}")
            logs = {}
            for student in (ada, ben):
                row = page.locator(f"tr:has(td:text-is('{student}'))")
                logs[student] = click_and_confirm(page, row.locator("td.autograde"), timeout=600_000)
            for student, log in logs.items():
                assert "Success" in log, log[-3000:]
                assert "1 graded" in log, log[-3000:]
                assert "limits: " in log, log[-3000:]  # the sandbox's bounds, named
            with open(setup.course / "grading_report.csv", newline="") as handle:
                report = {row["student"]: row for row in csv.DictReader(handle)}
            assert set(report) == {ada, ben} and all(row["status"] != "failed" for row in report.values()), report
            assert (setup.course / "gradebook.db").stat().st_uid == pwd.getpwnam(instructor).pw_uid  # not root's

        with round_.step("4c. instructor hand-grades demo_ada's written answer"):
            formgrader(page, setup, instructor, f"/gradebook/{c.ASSIGNMENT}/{WRITTEN_ANSWER[0]}")
            page.locator(f"tr:has-text('{ada}') a").first.click()
            page.wait_for_selector(f"text={WRITTEN_ANSWER[1]}")
            score = page.locator("input.score#binary_vs_ten_classes")  # its grade_id
            score.fill("3")
            score.press("Tab")
            deadline = time.monotonic() + 30
            while manual_score(setup, ada) != 3:
                assert time.monotonic() < deadline, "the hand-given points did not reach the gradebook"
                time.sleep(0.5)

        with round_.step("4d. instructor generates and releases the feedback"):
            formgrader(page, setup, instructor)
            assert "Success" in click_and_confirm(page, assignment_row(page).locator("td.generate-feedback"),
                                                  timeout=300_000)
            assert "Success" in click_and_confirm(page, assignment_row(page).locator("td.release-feedback"))

        with round_.step("5. each student fetches the feedback: their own score, no hidden test"):
            hidden = [line.strip() for line in (c.REPO / "grading/checker/part1_data.py").read_text().splitlines()
                      if len(line.strip()) > 40]
            for student, expected in ((ada, None), (ben, 0)):
                page = round_.pages[student]
                open_assignments(page)
                assignment_button(page, "submitted_assignments_list", "Fetch Feedback").click()
                page.wait_for_selector("#submitted_assignments_list a:has-text('view feedback')")
                feedback = sorted(Path(os.path.expanduser(f"~{student}"), c.ASSIGNMENT, "feedback").glob("*/part1_data.html"))
                assert feedback, f"no feedback fetched for {student}"
                page.goto(f"{setup.url}/user/{student}/files/{c.ASSIGNMENT}/feedback/{feedback[-1].parent.name}/part1_data.html")
                text = page.locator("body").inner_text()
                assert student in text or "part1_data" in text
                score = re.search(r"Score:\s*([\d.]+)\s*/\s*([\d.]+)", text)
                assert score, text[:2000]
                assert float(score.group(1)) == (float(score.group(2)) if expected is None else expected)
                assert not any(line in text for line in hidden)

        browser.close()
    report = "\n".join(f"  {seconds:7.1f} s  {name}" for name, seconds in round_.timings.items())
    print("\nbrowser round, seconds per step:\n" + report)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "timings.json").write_text(json.dumps(round_.timings, indent=1))
