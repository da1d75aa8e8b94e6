"""The formgrader's Autograde button, through the sandboxed grader; and its views of a submission,
under a Content-Security-Policy.

nbgrader's formgrader autogrades in the instructor's server process, with nbgrader's own
``Autograde``: it copies the submission following its links and runs the student's code unconfined,
with the instructor's rights, and blocks the server while it runs. This Jupyter server extension
answers the same URL (``/formgrader/api/submission/<assignment>/<student>/autograde``) with
``python -m grading grade --student <student> --force`` in a process of its own: staged, in the
sandbox, as the instructor (no root needed), and without blocking the server. The formgrader's page
shows its log and outcome as it shows nbgrader's.

Enable it beside nbgrader's formgrader (``ServerApp.jpserver_extensions``: ``{"grading.formgrader":
true}``; the hub's instructor config does). Its handler answers the button's URL before nbgrader's
(jupyter_server loads extensions in alphabetical order and Tornado answers a URL with the first
handler added for it); that order is a convenience, not the defence: should nbgrader's own handler
answer, the course's settings make its in-process autograde refuse to run any notebook outside the
sandbox (``GuardedExecute.sandbox_required``). ``tests/test_round_trip.py`` checks both.

A submission's page in the formgrader shows what the student's notebook holds, sanitised
(``nbgrader_config.py``); it is served here with a Content-Security-Policy that runs the
server's own script files only (nbgrader's page, with its inline script moved to a file:
``grading/templates/formgrade/``, ``grading/static/``), so that nothing that got past the
sanitisers runs with the instructor's session. The files of a graded submission that the page
links to (``/formgrader/submissions/<id>/<file>``: a student may hand in an HTML file) are served
sandboxed: no script, and no access to the server's origin.
"""

from __future__ import annotations

import asyncio
import copy
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbgrader.server_extensions.formgrader as nbgrader_formgrader
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from nbconvert.exporters import HTMLExporter
from nbgrader.server_extensions.formgrader.base import BaseApiHandler, check_xsrf
from nbgrader.server_extensions.formgrader.handlers import (ManageSubmissionsHandler, SubmissionFilesHandler,
                                                            SubmissionHandler)
from tornado import web

from grading import course as c
from grading.protocol.progress import read_progress
from grading.report import REPORT, WORK, submitted

AUTOGRADE_URL = r"/formgrader/api/submission/([^/]+)/([^/]+)/autograde"
MANAGE_SUBMISSIONS_URL = r"/formgrader/manage_submissions/([^/]+)/?"
GRADE_ALL_URL = r"/grading/api/grade"
REPORT_URL = r"/grading/api/report"
SUBMISSION_URL = r"/formgrader/submissions/([^/]+)/?"
# A file of a submission: not nbgrader's static components, nor its next/previous links, which its own handlers answer.
SUBMISSION_FILES_URL = r"/formgrader/submissions/((?!components/)[^/]+/(?!(?:next_incorrect|prev_incorrect|next|prev)/?$).+)"
STATIC_URL = r"/grading/static/(.*)"
LOG_CHARACTERS = 20_000  # the end of the grader's output, for the formgrader's log window
HERE = Path(__file__).resolve().parent
NBGRADER_TEMPLATES = Path(nbgrader_formgrader.__file__).resolve().parent / "templates"
# The submission's page: the server's own script files, styles inline (nbconvert's), images from
# the server or inline; nothing else, and no plugin, base or form elsewhere.
SUBMISSION_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                     "font-src 'self' data:; connect-src 'self'; frame-ancestors 'self'; base-uri 'none'; "
                     "form-action 'self'; object-src 'none'")
# A file of a submission: shown as a document without script, in an origin of its own.
FILES_POLICY = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'"


class GradingJob:
    """The one grading run of a course at a time: ``python -m grading grade`` in a session of its
    own (it goes on, and writes its report, if the formgrader's server stops), its progress in
    ``.grading/progress.json`` and its output in ``.grading/grading.log``."""

    def __init__(self, course: str):
        self.course = Path(course)
        self.progress = self.course / WORK / "progress.json"
        self.log = self.course / WORK / "grading.log"

    def state(self) -> dict:
        """The progress of the last run, and whether it still runs (``running``; ``stopped`` when
        it ended without finishing)."""
        state = read_progress(self.progress)
        if state is None:
            return {"running": False}
        alive = _alive(state.get("pid"))
        return {**state, "running": alive and not state.get("finished"),
                "stopped": not alive and not state.get("finished")}

    def start(self, students: list[str] | None = None) -> bool:
        """Start grading ``students`` (again, if they are named), or every submission that changed;
        False when a run is going on already."""
        if self.state()["running"]:
            return False
        (self.course / WORK).mkdir(mode=0o700, exist_ok=True)
        self.progress.unlink(missing_ok=True)
        command = [sys.executable, "-m", "grading", "grade", "--course", str(self.course), "--progress-file",
                   str(self.progress)]
        for student in students or []:
            command += ["--student", student, "--force"]
        if students:
            command += ["--workers", "1"]
        with open(self.log, "w") as log:
            subprocess.Popen(command, cwd=self.course, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        for _ in range(100):  # until it has written its first progress (its pid)
            if self.progress.exists():
                break
            time.sleep(0.1)
        return True

    async def finished(self) -> dict:
        """The final state, once the run's process has ended: it prints its summary after the
        progress says finished, and the log shown must hold it."""
        while self.state()["running"]:
            await asyncio.sleep(0.5)
        state = self.state()
        for _ in range(120):
            if not _alive(state.get("pid")):
                break
            await asyncio.sleep(0.25)
        return state


def _alive(pid) -> bool:
    """Whether process ``pid`` runs (a zombie, ended but not yet reaped, does not)."""
    try:
        os.kill(int(pid), 0)
    except (OSError, TypeError, ValueError):
        return False
    try:
        with open(f"/proc/{int(pid)}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):  # no /proc to ask: it answered the signal
        return True


async def autograde(course: str, student: str) -> dict:
    """Grade one student's submission with the sandboxed grader; nbgrader's API answer."""
    job = GradingJob(course)
    if not job.start([student]):
        return {"success": False, "log": "", "error": "grading is running already: wait until it has finished"}
    state = await job.finished()
    log = job.log.read_text(errors="replace")[-LOG_CHARACTERS:]
    if state.get("failed") == 0 and state.get("done"):
        return {"success": True, "log": log}
    return {"success": False, "log": log, "error": "python -m grading grade could not grade the submission"}


class SandboxedAutogradeHandler(BaseApiHandler):
    """POST: autograde one submission in the sandbox (replaces nbgrader's AutogradeHandler)."""

    @web.authenticated
    @check_xsrf
    async def post(self, assignment_id: str, student_id: str) -> None:
        if assignment_id != c.ASSIGNMENT:
            self.write(json.dumps({"success": False, "log": "",
                                   "error": f"this course grades the assignment {c.ASSIGNMENT!r} only"}))
            return
        if student_id not in submitted(Path(self.coursedir.root)):
            self.write(json.dumps({"success": False, "log": "", "error": f"no submission of {student_id!r} in submitted/"}))
            return
        self.log.info("Autograding %s for %s in the sandbox (python -m grading grade)", assignment_id, student_id)
        self.write(json.dumps(await autograde(self.coursedir.root, student_id)))


class GradeAllHandler(APIHandler):
    """POST: grade every submission that changed since its last grading, sandboxed, in the
    background. GET: how far that run is."""

    @web.authenticated
    async def get(self) -> None:
        self.finish(json.dumps(GradingJob(self.settings["nbgrader_formgrader"].coursedir.root).state()))

    @web.authenticated
    async def post(self) -> None:
        started = GradingJob(self.settings["nbgrader_formgrader"].coursedir.root).start()
        self.finish(json.dumps({"started": started}))


class ReportHandler(APIHandler):
    """GET: the grading report's rows (notes for the student, signals for the instructor, why a
    grading failed), by student."""

    @web.authenticated
    async def get(self) -> None:
        report = Path(self.settings["nbgrader_formgrader"].coursedir.root) / REPORT
        rows = {}
        if report.exists():
            with open(report, newline="") as handle:
                rows = {row["student"]: {key: row.get(key, "") for key in ("status", "notes", "signals", "reason")}
                        for row in csv.DictReader(handle)}
        self.finish(json.dumps(rows))


class ManageSubmissionsPage(ManageSubmissionsHandler):
    """nbgrader's Manage Submissions page, with the course's script: a button that grades every
    submission in the sandbox, with its progress; each submission's notes and signals from the
    grading report; instructions that never point to unsandboxed grading; a message when the
    server stops answering while grading runs."""

    def render(self, name, **namespace):
        page = super().render(name, **namespace)
        script = f'<script src="{self.base_url}/grading/static/manage_submissions.js"></script>'
        return page.replace("</body>", script + "</body>", 1)


class PolicedSubmissionHandler(SubmissionHandler):
    """nbgrader's page of one graded notebook, rendered without inline script and served with
    :data:`SUBMISSION_POLICY`."""

    @property
    def content_security_policy(self) -> str:
        return SUBMISSION_POLICY

    @property
    def exporter(self):
        if "grading_exporter" not in self.settings:
            config = copy.deepcopy(self.settings["nbgrader_exporter"].config)
            config.HTMLExporter.template_name = "formgrade"
            # This course's formgrade macros first, nbgrader's formgrade template after them.
            config.HTMLExporter.extra_template_basedirs = [str(HERE / "templates"), str(NBGRADER_TEMPLATES)]
            self.settings["grading_exporter"] = HTMLExporter(config=config)
        return self.settings["grading_exporter"]


class SandboxedSubmissionFilesHandler(SubmissionFilesHandler):
    """The files of a graded submission, served with :data:`FILES_POLICY`: a student's HTML file
    opens as a page without script, in an origin of its own."""

    @property
    def content_security_policy(self) -> str:
        return FILES_POLICY

    def set_extra_headers(self, path) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")


def _jupyter_server_extension_points():
    return [{"module": "grading.formgrader"}]


def _load_jupyter_server_extension(serverapp) -> None:
    web_app = serverapp.web_app
    base = web_app.settings["base_url"]
    web_app.add_handlers(".*$", [
        (url_path_join(base, AUTOGRADE_URL), SandboxedAutogradeHandler),
        (url_path_join(base, MANAGE_SUBMISSIONS_URL), ManageSubmissionsPage),
        (url_path_join(base, GRADE_ALL_URL), GradeAllHandler),
        (url_path_join(base, REPORT_URL), ReportHandler),
        (url_path_join(base, SUBMISSION_URL), PolicedSubmissionHandler),
        (url_path_join(base, SUBMISSION_FILES_URL), SandboxedSubmissionFilesHandler),
        (url_path_join(base, STATIC_URL), web.StaticFileHandler, {"path": str(HERE / "static")}),
    ])
    serverapp.log.info("grading.formgrader: the formgrader's Autograde button grades in the sandbox; its views of a "
                       "submission run no script of a student's")
