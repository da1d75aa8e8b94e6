"""The semester as its users live it, in a real browser: a JupyterHub with nbgrader's exchange.

``python hub/course_hub.py`` sets up the course's hub on this machine (system users, the exchange, the
instructor's copy of the course; Parts 1, 2 and 4 in fast mode, to keep CI short) and Playwright
drives Debian's Chromium through one round, each step as its user would take it:

0. the hub is set up again with a student's folder squatting in the exchange: it is moved aside,
   every password is kept;
1. the instructor generates and releases the assignment in the formgrader;
2. two students log in and fetch it from the Assignments panel; demo_ben's terminal has the
   course's environment, and from it he can read neither this checkout nor the instructor's
   course (solutions, hidden tests), nor write into the course's exchange folder; his server runs
   in its memory and CPU bounds;
3. demo_ada types her answers to Parts 1 and 2 and a written answer of Part 4 into the notebooks,
   runs them, validates (the dialog says success) and submits; demo_ben submits the notebooks as
   he fetched them, less the one of Part 4, which he deleted in his terminal;
4. the instructor collects, grades both with the formgrader's Autograde button (the sandboxed
   grader, run as the instructor, not as root), sees the students' names and the grading report's
   signals and notes, grades every changed submission with the course's button (none changed),
   hand-grades demo_ada's written answer with points and a comment, presses Autograde again (the
   hand grade and the comment stay, also in a backup of the gradebook), and generates and
   releases the feedback;
5. the hub restarts: the students' servers and the proxy go on running (demo_ben's open JupyterLab
   goes on working while the hub is down, and shows no "server unavailable"), and the passwords
   still work; a new student is added without a restart;
6. each student fetches the feedback and sees their own score (demo_ada's hand-given points and
   the instructor's comment among it), and no line of the hidden tests.

Each step's time is printed and written to ``timings.json``; on a failure, a screenshot of every
open page goes to the folder the failure message names. Needs root (the hub creates system users),
npm and Debian's ``chromium`` (``bash tools/run_tests.sh`` installs them where it can).
"""

from __future__ import annotations

import csv
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager, suppress
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

from conftest import unavailable
from grading import course as c
import course_hub as h

pytestmark = pytest.mark.slow
NOTEBOOKS = ["part1_data", "part2_mlp", "part4_binary"]
TYPED = ["part1_data", "part2_mlp"]  # demo_ada's answers, typed into the editor
WRITTEN_ANSWER = ("part4_binary", "Mistakes cost more for rare classes, so accuracy alone hides them.")
PASSWORD = "demo-password-1"
NAMES = {"demo_ada": "Ada Lovelace", "demo_ben": "Ben Bitdiddle"}
CHROMIUM = "/usr/bin/chromium"
# Chromium as root in a container; no calls home (this machine has no internet).
CHROMIUM_ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
SCREENSHOTS = Path(os.environ.get("BROWSER_SCREENSHOTS", Path(tempfile.gettempdir()) / "cifar10-browser-test"))


def require_chromium() -> None:
    """Debian's chromium (bash tools/run_tests.sh installs it where it can)."""
    if not Path(CHROMIUM).exists():
        unavailable("Debian's chromium is missing (sudo apt-get install -y chromium)")


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
def hub(full_copy):
    if os.geteuid() != 0:
        pytest.skip("the hub creates system users and starts their servers: run as root (CI does)")
    require_chromium()
    if shutil.which("npm") is None:
        unavailable("npm is missing (sudo apt-get install -y npm): the hub's proxy comes from npm")
    setup = h.Hub(root=os.environ.get("HUB_TEST_ROOT", "/var/tmp/cifar10-hub-test"), port=free_port(), mode="fast",
                  notebooks=NOTEBOOKS, students=list(NAMES), names=dict(NAMES))
    checkout_mode = c.REPO.stat().st_mode
    h.stop(setup)  # a hub an earlier run left behind
    for user in (setup.instructor, *setup.students):  # and its users' servers, if it died before stopping them
        subprocess.run(["pkill", "-KILL", "-u", user], capture_output=True)
        # and the JupyterLab layouts earlier runs saved (on this machine the instructor's reopened
        # twelve terminal tabs, and the new terminal was not the one in front)
        with suppress(KeyError):
            shutil.rmtree(Path(pwd.getpwnam(user).pw_dir) / ".jupyter/lab/workspaces", ignore_errors=True)
    start = time.perf_counter()
    passwords = h.setup(setup, full_copy, PASSWORD, reset=True)
    set_up_seconds = time.perf_counter() - start
    assert set(passwords) == {setup.instructor, *setup.students}
    h.start(setup)
    try:
        yield setup, full_copy, set_up_seconds
    finally:
        h.stop(setup)
        c.REPO.chmod(checkout_mode)  # the set-up made this checkout private; as it was for other tests


def as_user(user: str, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", user, "--", "bash", "-c", command], capture_output=True, text=True)


def terminal(page, hub: h.Hub, user: str, commands: str, output: Path) -> str:
    """Type ``commands`` into a new JupyterLab terminal of ``user`` (their output goes to the file
    ``output``, which the test then reads as root); the file's text."""
    output.unlink(missing_ok=True)
    page.goto(f"{hub.url}/user/{user}/lab")
    page.wait_for_selector("#jp-main-dock-panel")
    terminals = page.locator(".jp-Terminal")
    opened = terminals.count()
    for _ in range(3):  # a click while JupyterLab still loads its plugins may do nothing
        page.locator(".lm-TabBar-addButton:visible").first.click()  # a new Launcher tab
        page.locator(".jp-LauncherCard", has_text="Terminal").last.click()
        try:
            page.wait_for_function(f"document.querySelectorAll('.jp-Terminal').length > {opened}", timeout=30_000)
            break
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    try:  # the shell names the tab (user@host: folder) once it reads keys
        page.locator(".lm-TabBar-tabLabel", has_text=f"{user}@").last.wait_for(timeout=30_000)
    except PlaywrightTimeout:
        pass  # a shell that sets no title: the typing below is retried
    shown = page.locator(".jp-Terminal:not(.lm-mod-hidden):visible").last  # the new one, in front
    for _ in range(3):  # a command typed is run at most once more: each writes its output anew
        shown.locator(".xterm:visible").click()
        shown.locator("textarea.xterm-helper-textarea").focus()  # where xterm.js reads the keys
        page.keyboard.type(f"( {commands} ) > {output} 2>&1; echo done >> {output}\n")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (output.exists() and "done" in output.read_text()):
            time.sleep(0.5)
        if output.exists() and "done" in output.read_text():
            return output.read_text()
    raise AssertionError(f"the terminal of {user} did not run the commands")


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
        for _ in range(5):  # just after a hub restart the proxy may answer 503 for a moment
            page.goto(f"{self.hub.url}/hub/login")
            if page.locator("#username_input").count():
                break
            page.wait_for_timeout(2000)
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


COMMENT = "A good start: say which classes a model confuses, too."


def hand_grade(hub: h.Hub, student: str) -> tuple:
    """The points and the comment the instructor gave the student's written answer, as the
    gradebook holds them."""
    from nbgrader.api import Gradebook

    with Gradebook(c.gradebook_url(hub.course)) as gradebook:
        grade = gradebook.find_grade("binary_vs_ten_classes", WRITTEN_ANSWER[0], c.ASSIGNMENT, student)
        comment = gradebook.find_comment("binary_vs_ten_classes", WRITTEN_ANSWER[0], c.ASSIGNMENT, student)
        return grade.manual_score, comment.manual_comment


def server_pid(user: str) -> int | None:
    """The pid of the user's running Jupyter server, if any."""
    found = subprocess.run(["pgrep", "-u", user, "-f", "jupyterhub-singleuser"], capture_output=True, text=True)
    return int(found.stdout.split()[0]) if found.stdout.split() else None


def test_a_semester_round_in_the_browser(hub):

    setup, archive, set_up_seconds = hub
    instructor, ada, ben = setup.instructor, *setup.students
    exchange_course = setup.path / "exchange" / setup.course_id
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        round_ = Round(browser, setup)
        round_.timings["set up the hub (venv, proxy, users, course)"] = round(set_up_seconds, 1)

        with round_.step("0. set up again over a squatted exchange folder; passwords kept"):
            # A student made the course's exchange folder before the instructor (as an older set-up
            # let one): setting the hub up again moves it aside and makes the instructor's.
            shutil.rmtree(exchange_course)
            os.chown(setup.path / "exchange", 0, 0)
            assert as_user(ben, f"mkdir {exchange_course}").returncode == 0
            assert h.setup(setup, archive) == {}  # no new password for anyone
            assert exchange_course.stat().st_uid == pwd.getpwnam(instructor).pw_uid
            assert list((setup.path / "exchange").glob(f".squatted-{setup.course_id}-*"))
            h.start(setup)

        with round_.step("1. instructor logs in, generates and releases the assignment"):
            page = round_.log_in(instructor)
            formgrader(page, setup, instructor)
            assert "Success" in click_and_confirm(page, assignment_row(page).locator("td.assign"))
            assert "Success" in click_and_confirm(page, assignment_row(page).locator("td.release"))
            assert assignment_row(page).locator("td.status").inner_text().strip() == "released"
            here = terminal(page, setup, instructor, "pwd; command -v nbgrader", setup.course / "terminal.txt")
            assert here.splitlines()[:2] == [str(setup.course), str(setup.venv / "bin/nbgrader")], here

        with round_.step("2. two students log in and fetch it; a student's terminal"):
            for student in (ada, ben):
                page = round_.log_in(student)
                open_assignments(page)
                assignment_button(page, "released_assignments_list", "Fetch").click()
                assignment_button(page, "fetched_assignments_list", "Submit").wait_for()
                # No instructor tools for students.
                page.get_by_role("menuitem", name="Nbgrader").click()
                assert page.get_by_text("Formgrader").count() == 0
                page.keyboard.press("Escape")
            home = Path(os.path.expanduser(f"~{ben}"))
            seen = terminal(round_.pages[ben], setup, ben, "; ".join([
                "command -v python nbgrader jupyter", f"head -c 50 {c.REPO}/source/cifar10/part2_mlp.ipynb",
                f"head -c 50 {c.REPO}/grading/checker/part2_mlp.py", f"ls {setup.course}",
                # Where the hub puts copies: its checkout, its root, homes, temporary folders. Not all of
                # /: another checkout on the machine is the instructor's to protect (README, "Hub").
                f"find {c.REPO} {setup.path} /home /tmp /var/tmp -name checker -path '*grading*' 2> /dev/null"
                " | head -3; echo searched",
                f"mkdir {exchange_course}/outbound/mine", "grep jupyterhub /proc/self/cgroup"]), home / "terminal.txt")
            assert seen.splitlines()[:3] == [str(setup.venv / "bin" / tool) for tool in ("python", "nbgrader", "jupyter")]
            assert seen.count("Permission denied") == 4 and "\nsearched\n" in seen, seen
            assert not re.search(r"^/\S*/checker$", seen, re.M), seen  # no readable copy of the hidden tests
            assert f"jupyterhub/{ben}" in seen, seen  # in its memory and CPU bounds (hub/limits.py)
            round_.pages[ben].goto(f"{setup.url}/user/{ben}/lab")

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

        with round_.step("3b. both submit (demo_ben without Part 4, which he deleted in his terminal)"):
            terminal(round_.pages[ben], setup, ben, f"rm {c.ASSIGNMENT}/{WRITTEN_ANSWER[0]}.ipynb",
                     Path(os.path.expanduser(f"~{ben}"), "terminal.txt"))
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

        with round_.step("4c. the instructor's view: names, the report's notes, grading every submission"):
            formgrader(page, setup, instructor, f"/manage_submissions/{c.ASSIGNMENT}")
            page.wait_for_selector("text=Lovelace, Ada")  # names from the hub, not "None, None"
            instructions = page.locator("#collapseOne").inner_text()
            assert "nbgrader autograde \"" not in instructions and "sandbox" in instructions, instructions
            notes = page.locator(f"tr:has(td:text-is('{ben}')) .grading-report")  # his notes, from the report
            notes.first.wait_for()
            assert f"{WRITTEN_ANSWER[0]}.ipynb was not submitted" in notes.first.get_attribute("title")
            page.get_by_role("button", name="Grade every new or changed submission (sandboxed)").click()
            page.wait_for_selector("text=Last run: 2 submissions, 0 failed", timeout=300_000)

        with round_.step("4d. instructor hand-grades demo_ada's written answer, and regrades her"):
            formgrader(page, setup, instructor, f"/gradebook/{c.ASSIGNMENT}/{WRITTEN_ANSWER[0]}")
            page.get_by_role("button", name="Show All Names").click()  # submissions are anonymous at first
            page.locator("tbody tr", has_text=re.compile(f"{ada}|{NAMES[ada].split()[-1]}")).locator("a:visible").first.click()
            page.wait_for_selector(f"text={WRITTEN_ANSWER[1]}")
            score = page.locator("input.score#binary_vs_ten_classes")  # its grade_id
            score.fill("3")
            score.press("Tab")
            comment = page.locator("textarea#binary_vs_ten_classes-comment")
            comment.fill(COMMENT)
            comment.press("Tab")
            deadline = time.monotonic() + 30
            while hand_grade(setup, ada) != (3, COMMENT):
                assert time.monotonic() < deadline, "the hand-given points and comment did not reach the gradebook"
                time.sleep(0.5)
            formgrader(page, setup, instructor, f"/manage_submissions/{c.ASSIGNMENT}")
            row = page.locator(f"tr:has(td:text-is('{ada}'))")
            assert "Success" in click_and_confirm(page, row.locator("td.autograde"), timeout=600_000)
            assert hand_grade(setup, ada) == (3, COMMENT)  # the regrade kept them
            copy = h.backup(setup)  # the gradebook's backup holds them too
            assert COMMENT in copy.read_bytes().decode("utf-8", "replace") and copy.stat().st_mode & 0o077 == 0

        with round_.step("4e. instructor generates and releases the feedback"):
            formgrader(page, setup, instructor)
            assert "Success" in click_and_confirm(page, assignment_row(page).locator("td.generate-feedback"),
                                                  timeout=300_000)
            assert "Success" in click_and_confirm(page, assignment_row(page).locator("td.release-feedback"))

        with round_.step("5. the hub restarts, students' servers go on; a student is added without a restart"):
            servers = {user: server_pid(user) for user in (ada, ben)}
            proxy = h.running(setup, "proxy")
            h.stop(setup, servers=False)
            page = round_.pages[ben]  # open in JupyterLab all along: it goes on working, no dialog
            open_assignments(page)  # while the hub is down: the proxy still routes him to his server
            h.start(setup)
            assert {user: server_pid(user) for user in (ada, ben)} == servers and all(servers.values())
            assert h.running(setup, "proxy") == proxy is not None
            page.wait_for_timeout(3000)
            assert page.locator(".jp-Dialog:has-text('Server unavailable')").count() == 0
            round_.log_in(ada)  # her password, kept
            h.add_student(setup, "demo_cy", "Cy Young", PASSWORD)
            round_.log_in("demo_cy")

        with round_.step("6. each student fetches the feedback: their own score, no hidden test"):
            hidden = [line.strip() for line in (c.REPO / "grading/checker/part1_data.py").read_text().splitlines()
                      if len(line.strip()) > 40]
            for student, expected in ((ada, None), (ben, 0)):
                page = round_.pages[student]
                open_assignments(page)
                assignment_button(page, "submitted_assignments_list", "Fetch Feedback").click()
                page.wait_for_selector("#submitted_assignments_list a:has-text('view feedback')")
                folder = Path(os.path.expanduser(f"~{student}"), c.ASSIGNMENT, "feedback")
                feedback = sorted(folder.glob("*/part1_data.html"))
                assert feedback, f"no feedback fetched for {student}"
                page.goto(f"{setup.url}/user/{student}/files/{c.ASSIGNMENT}/feedback/{feedback[-1].parent.name}/part1_data.html")
                text = page.locator("body").inner_text()
                assert student in text or "part1_data" in text
                score = re.search(r"Score:\s*([\d.]+)\s*/\s*([\d.]+)", text)
                assert score, text[:2000]
                assert float(score.group(1)) == (float(score.group(2)) if expected is None else expected)
                assert not any(line in text for line in hidden)
                if student == ada:
                    written = (folder / feedback[-1].parent.name / f"{WRITTEN_ANSWER[0]}.html").read_text()
                    assert COMMENT in written and re.search(r"Score:\s*3(\.0)?\s*/", written), written[:3000]

        browser.close()
    report = "\n".join(f"  {seconds:7.1f} s  {name}" for name, seconds in round_.timings.items())
    print("\nbrowser round, seconds per step:\n" + report)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "timings.json").write_text(json.dumps(round_.timings, indent=1))
