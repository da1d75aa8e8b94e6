"""Scores from the checker: :class:`ApplyVerdicts`, the autograde step that decides every test.

It runs after execution and before nbgrader's ``SaveAutoGrades`` records the scores. For each
notebook it asks the checker process (:mod:`grading.checker`, started once per nbgrader process by
:class:`Checker`) for the verdicts of the notebook's graded tests, from the records that
:class:`grading.execute.GuardedExecute` wrote, and rewrites every graded cell: what the kernel
printed stays, what the kernel raised or returned goes, and the verdict follows, as an error
(0 points) or a line saying the test passed (full points). Forged messages, input transformers or
patched libraries in the kernel can therefore change what a cell displayed, never its score.

The checker's mode and data set come from this step's configuration (:attr:`ApplyVerdicts.mode`,
:attr:`ApplyVerdicts.data`), by default the grader's own environment, never the kernel's.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer, Unicode, default

from grading import sandbox as sb
from grading.checker import is_test
from grading.checker.__main__ import ANSWER
from grading.execute import record_event, records_folder


class CheckerError(RuntimeError):
    """The checker could not answer: it died, or ran out of time."""


class Checker:
    """The checker process of this nbgrader process, started on first use and kept for the next
    notebooks of the submission (Keras and the data set are loaded once)."""

    running: dict[tuple, Checker] = {}

    def __init__(self, mode: str, data: str):
        self.mode, self.data = mode, data
        self.process = None

    @classmethod
    def shared(cls, mode: str, data: str) -> Checker:
        key = (mode, data)
        if key not in cls.running:
            cls.running[key] = cls(mode, data)
        return cls.running[key]

    def start(self, submission: Path) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        arguments = ["--mode", self.mode] + (["--data", self.data] if self.data else [])
        sandbox = sb.current()
        env = dict(os.environ)
        if sandbox is not None:
            command = sb.checker_command(sandbox, arguments, [records_folder(), submission], env)
        else:
            command = [sys.executable, "-I", "-m", "grading.checker", *arguments]
        self.workdir = tempfile.mkdtemp(prefix="grading-checker-")
        self.process = subprocess.Popen(command, cwd=self.workdir, env=env, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, start_new_session=True)
        if sandbox is not None and sandbox.checker() is not None:
            sandbox.checker().started(self.process.pid)  # a watchdog watches it from here on
        atexit.register(self.stop)

    def check(self, notebook: str, records: str, submission: Path, timeout: float) -> dict:
        """The verdicts of ``notebook``'s tests: grade id -> ``{"passed", "message"}``."""
        self.start(submission)
        request = {"notebook": notebook, "records": records, "submission": str(submission)}
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except OSError:
            raise CheckerError(self._why()) from None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            line = self.process.stdout.readline()
            if not line:
                raise CheckerError(self._why())
            if line.startswith(ANSWER):
                return json.loads(line[len(ANSWER):])[notebook]
        self.stop()
        raise CheckerError(f"the checker took longer than {timeout:.0f} s")

    def _why(self) -> str:
        self.process.wait()
        code = self.process.returncode
        self.process = None
        return f"the checker process ended (exit code {code})"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None


class ApplyVerdicts(NbGraderPreprocessor):
    """Replace what the kernel reported for every graded cell with the checker's verdict."""

    mode = Unicode(help="The run mode the checker grades in; default: $COURSE_MODE of the grader, else full.").tag(config=True)
    data = Unicode(help="The CIFAR-10 copy the checker loads; default: $CIFAR10_PATH of the grader.").tag(config=True)
    timeout = Integer(900, help="Seconds the checker may take for one notebook.").tag(config=True)

    @default("mode")
    def _default_mode(self) -> str:
        return os.environ.get("COURSE_MODE", "").strip().lower() or "full"

    @default("data")
    def _default_data(self) -> str:
        return os.environ.get("CIFAR10_PATH", "")

    def preprocess(self, nb, resources):
        notebook = resources["nbgrader"]["notebook"]
        submission = Path(resources["metadata"]["path"]).resolve()
        records = resources.get("grading", {}).get("records")
        tests = [cell for cell in nb.cells if is_test(cell)]
        if not tests:
            return nb, resources
        try:
            if records is None:
                raise CheckerError("the notebook was not executed by grading.execute.GuardedExecute")
            verdicts = Checker.shared(self.mode, self.data).check(notebook, records, submission, self.timeout)
        except CheckerError as error:
            self.log.error("No verdicts for %s: %s", notebook, error)
            raise
        for cell in tests:
            grade_id = cell.metadata["nbgrader"]["grade_id"]
            points = cell.metadata["nbgrader"].get("points", 0)
            verdict = verdicts.get(grade_id) or {"passed": False, "message": f"The grader has no test called {grade_id}."}
            if isinstance(verdict.get("signals"), dict):
                record_event("signals", notebook, test=grade_id, **verdict["signals"])
            kept = [output for output in cell.outputs
                    if output.output_type == "display_data"
                    or (output.output_type == "stream" and output.get("name") == "stdout")]
            cell.outputs = kept + [verdict_output(verdict, points)]
        return nb, resources


def verdict_output(verdict: dict, points) -> NotebookNode:
    """How a verdict shows in the graded notebook and the feedback; nbgrader scores it (an error
    is 0 points, anything else full points)."""
    message = str(verdict.get("message") or "")
    if verdict.get("passed"):
        text = f"Test passed: {points:g} of {points:g} points." + (f"\n{message}" if message else "")
        return NotebookNode(output_type="display_data", data={"text/plain": text}, metadata={})
    return NotebookNode(output_type="error", ename="AssertionError", evalue=message,
                        traceback=[f"Test failed (0 of {points:g} points): {message}"])

