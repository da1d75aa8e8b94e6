"""The formgrader's Autograde button, through the sandboxed grader.

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
before nbgrader's ("nbgrader..."); ``tests/test_formgrader.py`` checks that it does.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from jupyter_server.utils import url_path_join
from nbgrader.server_extensions.formgrader.base import BaseApiHandler, check_xsrf
from tornado import web

from grading import course as c
from grading.parallel import submitted

AUTOGRADE_URL = r"/formgrader/api/submission/([^/]+)/([^/]+)/autograde"
LOG_CHARACTERS = 20_000  # the end of the grader's output, for the formgrader's log window


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


def _jupyter_server_extension_points():
    return [{"module": "grading.formgrader"}]


def _load_jupyter_server_extension(serverapp) -> None:
    web_app = serverapp.web_app
    pattern = url_path_join(web_app.settings["base_url"], AUTOGRADE_URL)
    web_app.add_handlers(".*$", [(pattern, SandboxedAutogradeHandler)])
    serverapp.log.info("grading.formgrader: the formgrader's Autograde button grades in the sandbox")
