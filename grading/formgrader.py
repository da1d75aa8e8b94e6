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
true}``; the hub's instructor config does). jupyter_server loads extensions in alphabetical order
and Tornado answers a URL with the first handler added for it, so this one ("grading...") answers
before nbgrader's ("nbgrader..."); ``tests/test_round_trip.py`` checks that it does.

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
import json
import sys
from pathlib import Path

import nbgrader.server_extensions.formgrader as nbgrader_formgrader
from jupyter_server.utils import url_path_join
from nbconvert.exporters import HTMLExporter
from nbgrader.server_extensions.formgrader.base import BaseApiHandler, check_xsrf
from nbgrader.server_extensions.formgrader.handlers import SubmissionFilesHandler, SubmissionHandler
from tornado import web

from grading import course as c
from grading.parallel import submitted

AUTOGRADE_URL = r"/formgrader/api/submission/([^/]+)/([^/]+)/autograde"
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


async def autograde(course: str, student: str) -> dict:
    """Grade one student's submission with the sandboxed grader; nbgrader's API answer."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "grading", "grade", "--course", course, "--student", student, "--force",
        "--workers", "1", cwd=course, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await process.communicate()
    log = output.decode(errors="replace")[-LOG_CHARACTERS:]
    if process.returncode == 0:
        return {"success": True, "log": log}
    return {"success": False, "log": log, "error": f"python -m grading grade exited with {process.returncode}"}


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
        (url_path_join(base, SUBMISSION_URL), PolicedSubmissionHandler),
        (url_path_join(base, SUBMISSION_FILES_URL), SandboxedSubmissionFilesHandler),
        (url_path_join(base, STATIC_URL), web.StaticFileHandler, {"path": str(HERE / "static")}),
    ])
    serverapp.log.info("grading.formgrader: the formgrader's Autograde button grades in the sandbox; its views of a "
                       "submission run no script of a student's")
