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
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer, Unicode, default

from grading import sandbox as sb
from grading.checker import NETWORK_PARTS, graded_tests, is_test
from grading.protocol import messages
from grading.protocol.records import record_event, records_folder


class CheckerError(RuntimeError):
    """The checker could not answer at all (it cannot start, or dies before any test)."""


class Checker:
    """The checker process of this nbgrader process, started as the submission's first kernel
    starts (:meth:`ApplyVerdicts.start_checker`) or on first use, and kept for the next notebooks
    of the submission (Keras and the data set are loaded once). A test that kills it
    (out of memory) or runs past its time fails alone: a new checker decides the rest."""

    running: dict[tuple, Checker] = {}

    def __init__(self, mode: str, data: str):
        self.mode, self.data = mode, data
        self.process = None
        self.workdir = None
        self.spawned = None  # when the running process started, until it begins its first test
        self.seconds: Counter = Counter()  # the checker's time by phase, for the grading's breakdown

    @classmethod
    def shared(cls, mode: str, data: str) -> Checker:
        key = (mode, data)
        if key not in cls.running:
            cls.running[key] = cls(mode, data)
        return cls.running[key]

    def command(self, submission: Path, warm_keras: bool) -> list[str]:
        """How the checker starts: in the sandbox of this submission where there is one."""
        arguments = ["--mode", self.mode] + (["--data", self.data] if self.data else [])
        arguments += ["--warm-keras"] if warm_keras else []
        sandbox = sb.current()
        if sandbox is not None:
            return sb.checker_command(sandbox, arguments, [records_folder(), submission], os.environ)
        return [sys.executable, "-I", "-m", "grading.checker", *arguments]

    def start(self, submission: Path, warm_keras: bool = False) -> None:
        """Start the checker unless it runs; ``warm_keras``: it imports Keras while it waits for
        its first request."""
        if self.process is not None and self.process.poll() is None:
            return
        if self.workdir is None:  # beside the records, in the folder the grader removes even after a kill
            self.workdir = tempfile.mkdtemp(prefix="grading-checker-", dir=records_folder().parent)
            atexit.register(self.stop)
        env = {**os.environ, "TMPDIR": self.workdir}  # its scratch files go where stop() removes them
        sandbox = sb.current()
        self.memory_kills = self._memory_kills()
        self.spawned = time.perf_counter()
        self.process = subprocess.Popen(self.command(submission, warm_keras), cwd=self.workdir, env=env, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, start_new_session=True)
        if sandbox is not None and sandbox.checker() is not None:
            sandbox.checker().started(self.process.pid)  # a watchdog watches it from here on
        self.lines = queue.Queue()
        threading.Thread(target=self._read, args=(self.process.stdout, self.lines), daemon=True).start()

    @staticmethod
    def _read(stream, lines: queue.Queue) -> None:
        """Pass the checker's lines on as they come, then None when it closes its output."""
        for line in stream:
            lines.put(line)
        lines.put(None)

    def check(self, notebook: str, records: str, submission: Path, timeout: float) -> dict:
        """The verdicts of ``notebook``'s tests: grade id -> ``{"passed", "message"}``; each test
        may take ``timeout`` seconds."""
        pending = list(graded_tests(notebook))
        verdicts: dict[str, dict] = {}
        failed_starts = 0
        if self.spawned is not None:  # started early: its start counts from now, when it is waited for
            self.spawned = max(self.spawned, time.perf_counter())
        while pending:
            self.start(submission)
            current, ended = None, None
            try:
                self.process.stdin.write(messages.request(notebook, records, str(submission), pending))
                self.process.stdin.flush()
            except OSError:
                ended = "it stopped"
            deadline = time.monotonic() + timeout
            while ended is None:
                try:
                    line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    ended = f"it took longer than {timeout:.0f} s"
                    break
                if line is None:
                    ended = "it stopped"
                    break
                answer = messages.read(line)
                if answer is None:
                    continue
                kind, name, details = answer
                if kind == "start":
                    current, deadline = name, time.monotonic() + timeout
                    if self.spawned is not None:
                        self.seconds["checker start"] += time.perf_counter() - self.spawned
                        self.spawned = None
                elif kind == "verdict":
                    spent = details.pop("seconds", None)
                    if isinstance(spent, dict):
                        for phase in ("rebuilds", "predictions"):
                            if isinstance(spent.get(phase), (int, float)):
                                self.seconds[f"checker {phase}"] += spent[phase]
                    verdicts[name] = details
                    pending = [test for test in pending if test != name]
                    current = None
                else:
                    return verdicts
            why = self._why(ended)
            if current is None:  # it died before deciding anything: not a test's doing
                failed_starts += 1
                if failed_starts >= 2:
                    raise CheckerError(f"the checker could not check {notebook}: {why}")
                continue
            verdicts[current] = {"passed": False, "message": (
                f"The grader could not finish checking this test: {why}. Nothing else of your notebook was affected.")}
            pending = [test for test in pending if test != current]
        return verdicts

    def _memory_kills(self) -> int:
        sandbox = sb.current()
        group = sandbox.checker() if sandbox is not None else None
        return group.counters().get("memory_kills", 0) if group is not None else 0

    def _why(self, ended: str) -> str:
        """Why the checker stopped, as the student reads it; stops it if it still runs."""
        self.stop(keep_folder=True)
        sandbox = sb.current()
        if self._memory_kills() > self.memory_kills:
            limit = sandbox.limits.checker_memory_mb if sandbox is not None else 0
            return (f"checking it needed more than the {limit:,} MB of memory the grader has for it (a network this "
                    "large cannot be checked: make it smaller)")
        return ended

    def stop(self, keep_folder: bool = False) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.process is not None and self.process.stdin:
            self.process.stdin.close()
        self.process = None
        if not keep_folder and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None


class ApplyVerdicts(NbGraderPreprocessor):
    """Replace what the kernel reported for every graded cell with the checker's verdict."""

    mode = Unicode(help="The run mode the checker grades in; default: $COURSE_MODE of the grader, else full.").tag(config=True)
    data = Unicode(help="The CIFAR-10 copy the checker loads; default: $CIFAR10_PATH of the grader.").tag(config=True)
    timeout = Integer(300, help="Seconds the checker may take for one test.").tag(config=True)

    @default("mode")
    def _default_mode(self) -> str:
        return os.environ.get("COURSE_MODE", "").strip().lower() or "full"

    @default("data")
    def _default_data(self) -> str:
        return os.environ.get("CIFAR10_PATH", "")

    def start_checker(self, submission: Path, notebooks: list[str]) -> None:
        """Start the checker of this submission before its first notebook runs, so that its start
        and its Keras import (where one of ``notebooks`` needs it) overlap the kernels' work instead
        of following it. It reads nothing before the first request."""
        if any(graded_tests(notebook) for notebook in notebooks):
            warm_keras = any(notebook in NETWORK_PARTS for notebook in notebooks)
            Checker.shared(self.mode, self.data).start(submission, warm_keras=warm_keras)

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
            checker = Checker.shared(self.mode, self.data)
            checker.seconds.clear()
            start = time.perf_counter()
            verdicts = checker.check(notebook, records, submission, self.timeout)
        except CheckerError as error:
            self.log.error("No verdicts for %s: %s", notebook, error)
            raise
        phases = dict(checker.seconds)
        phases["checker other"] = max(0.0, time.perf_counter() - start - sum(phases.values()))
        record_event("phases", notebook, seconds={name: round(value, 3) for name, value in phases.items()})
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

