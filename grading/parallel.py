"""Grade every submission of the assignment with several workers at once, into one gradebook.

``nbgrader autograde`` grades one student at a time. :func:`grade_all` runs one ``nbgrader
autograde --student=S`` per submission, several at once: in local worker threads (each waits on its
own nbgrader process), or, given a scheduler address, as tasks on a Dask distributed cluster whose
workers share the course folder and reach the gradebook. Each run is nbgrader's own, so the scores
are exactly those of sequential grading.

- The gradebook: SQLite allows one writer at a time, and nbgrader holds the database only for short
  transactions; every nbgrader process here waits up to :data:`SQLITE_WAIT_SECONDS` for the lock
  instead of SQLite's default 5 s. A PostgreSQL URL (``postgresql+psycopg://...``) is used as given.
- Resuming: a graded submission gets a receipt (:data:`RECEIPT`) in its autograded folder with a
  fingerprint of the files graded. A later run skips a submission whose receipt matches its files,
  so stopping midway loses nothing already graded, and an unchanged submission is not graded twice.
- Failures: an nbgrader process killed from outside (a signal: the machine ran out of memory, an
  operator, a lost Dask worker) is an infrastructure failure and is retried, up to
  :data:`ATTEMPTS` times; an nbgrader run that fails by itself is the submission's failure and is
  recorded with its reason, without retrying.
- Telemetry: wall time, peak memory of the largest process (the student's kernel, as a rule),
  attempts, cell timeouts and kernel deaths of every submission, in ``grading_report.csv``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from grading import course as c

RECEIPT = ".graded.json"
REPORT = "grading_report.csv"
ATTEMPTS = 3
SQLITE_WAIT_SECONDS = 300


@dataclass
class Outcome:
    """What grading one submission did: one row of the report."""

    student: str
    status: str  # "graded", "unchanged" (skipped: graded before, files the same) or "failed"
    seconds: float = 0.0
    peak_memory_mb: float = 0.0
    attempts: int = 0
    cell_timeouts: int = 0
    kernel_deaths: int = 0
    reason: str = ""


def database_url(course: Path) -> str:
    """The course's SQLite gradebook, with a long wait for the write lock."""
    return f"{c.gradebook_url(course)}?timeout={SQLITE_WAIT_SECONDS}"


def fingerprint(folder: Path) -> str:
    """SHA-256 over the relative paths and contents of every file of a submission."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def submitted(course: Path) -> list[str]:
    """Students with a submission of the assignment in ``submitted/``, sorted."""
    return sorted(p.parent.name for p in (course / "submitted").glob(f"*/{c.ASSIGNMENT}") if p.is_dir())


def _receipt(course: Path, student: str) -> Path:
    return course / "autograded" / student / c.ASSIGNMENT / RECEIPT


def last_grading(course: Path, student: str) -> dict | None:
    """The outcome of the last grading of this submission, if its files have not changed since."""
    try:
        receipt = json.loads(_receipt(course, student).read_text())
    except (OSError, ValueError):
        return None
    if receipt.get("fingerprint") != fingerprint(course / "submitted" / student / c.ASSIGNMENT):
        return None
    return receipt.get("outcome")


def grade_one(course: str, student: str, database: str, env: dict) -> dict:
    """Autograde one submission in its own nbgrader process (this runs in a worker).

    Returns the fields of an :class:`Outcome`; raises :class:`InfrastructureError` when the
    nbgrader process was killed from outside, so that it is retried.
    """
    course_path = Path(course)
    submission = course_path / "submitted" / student / c.ASSIGNMENT
    files = fingerprint(submission)
    command = [sys.executable, "-m", "grading.measure", sys.executable, "-m", "nbgrader", "autograde",
               c.ASSIGNMENT, "--force", f"--student={student}", *c.database_option(database)]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=course_path, env=c.grading_env(env), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    measured = _measurement(result.stdout)
    log = result.stdout + result.stderr
    if measured.get("signal") or result.returncode < 0:
        signal = measured.get("signal") or -result.returncode
        raise InfrastructureError(f"nbgrader for {student} was killed by signal {signal}")
    outcome = Outcome(student, "graded" if result.returncode == 0 else "failed", round(seconds, 1),
                      round(measured.get("peak_rss_kb", 0) / 1024, 1), 1,
                      # nbclient's own log lines: a timed-out cell is interrupted and the run goes
                      # on; a dead kernel ends nbgrader's run of the submission (so at most one).
                      cell_timeouts=log.count("Timeout waiting for execute reply"),
                      kernel_deaths=int("DeadKernelError" in log))
    if result.returncode == 0:
        _receipt(course_path, student).write_text(json.dumps({"fingerprint": files, "outcome": asdict(outcome)}))
    else:
        outcome.reason = failure_reason(log) or f"nbgrader exited with {result.returncode}"
    return asdict(outcome)


_EXCEPTION = re.compile(r"^\s*([\w.]+(?:Error|Exception)): (.*)$")
_NOTEBOOK = re.compile(r"(?:Sanitizing|Converting notebook|Autograding) \S*?([^/\s]+\.ipynb)")


def failure_reason(log: str) -> str:
    """The notebook nbgrader was working on and the last exception it reported, from its log."""
    notebook, exception = "", ""
    for line in log.splitlines():
        if "| ERROR]" in line and exception:
            break
        found = _NOTEBOOK.search(line)
        if found and not exception:
            notebook = found.group(1)
        found = _EXCEPTION.match(line)
        if found:
            exception = f"{found.group(1)}: {found.group(2)}"
    return (f"{notebook}: " if notebook and exception else "") + exception[:400]


class InfrastructureError(RuntimeError):
    """The grading process was killed from outside: retry it, the submission is not to blame."""


def _measurement(stdout: str) -> dict:
    """The JSON line that :mod:`grading.measure` prints last."""
    for line in reversed(stdout.splitlines()):
        if line.startswith("{\"measure\":"):
            return json.loads(line)["measure"]
    return {}


class Progress:
    """One line of done / failed / remaining, rewritten in place on a terminal."""

    def __init__(self, total: int, stream=sys.stderr, enabled: bool = True):
        self.total, self.stream, self.enabled, self.done, self.failed = total, stream, enabled, 0, 0
        self.in_place = stream.isatty()

    def update(self, outcome: Outcome) -> None:
        if not self.enabled:
            return
        self.done += 1
        self.failed += outcome.status == "failed"
        width = 30
        filled = round(width * self.done / max(self.total, 1))
        line = (f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} done, "
                f"{self.failed} failed, {self.total - self.done} remaining ({outcome.student}: {outcome.status})")
        self.stream.write(("\r" + line) if self.in_place else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.in_place:
            self.stream.write("\n")


def grade_all(course: Path, env: dict, workers: int | None = None, scheduler: str | None = None,
              students: list[str] | None = None, database: str | None = None,
              force: bool = False, progress: bool = True) -> list[Outcome]:
    """Grade the submissions of ``students`` (default: every one in ``submitted/``).

    ``workers`` local threads each drive one nbgrader process (default: one per CPU); with
    ``scheduler`` (a Dask address, or a ``distributed.Client``) the work goes to that cluster
    instead. ``force`` regrades unchanged submissions too. Writes ``grading_report.csv`` into the
    course folder and returns the outcomes in the order of ``students``.
    """
    course = Path(course).resolve()
    students = submitted(course) if students is None else list(students)
    database = database or database_url(course)
    outcomes: dict[str, Outcome] = {}
    todo = []
    for student in students:
        earlier = None if force else last_grading(course, student)
        if earlier is not None:
            outcomes[student] = Outcome(**{**earlier, "status": "unchanged"})
        else:
            todo.append(student)
    bar = Progress(len(students), enabled=progress)
    for outcome in outcomes.values():
        bar.update(outcome)
    if todo:
        with _Workers(workers, scheduler) as executor:
            for outcome in _grade_with(executor, course, todo, database, env):
                outcomes[outcome.student] = outcome
                bar.update(outcome)
    bar.close()
    ordered = [outcomes[student] for student in students]
    write_report(course / REPORT, ordered)
    return ordered


class _Workers:
    """Local threads (each waits on one nbgrader process), or a Dask cluster's executor."""

    def __init__(self, workers: int | None, scheduler):
        self.workers, self.scheduler, self.client = workers or os.cpu_count() or 1, scheduler, None

    def __enter__(self):
        if self.scheduler is None:
            self.pool = ThreadPoolExecutor(max_workers=self.workers)
            return self.pool
        from distributed import Client

        if isinstance(self.scheduler, Client):
            client = self.scheduler
        else:
            client = self.client = Client(self.scheduler)
        # pure=False: a retried submission gets a new task instead of the failed one's result.
        return client.get_executor(pure=False)

    def __exit__(self, *exc):
        if self.scheduler is None:
            self.pool.shutdown()
        elif self.client is not None:
            self.client.close()


def _grade_with(executor, course: Path, students: list[str], database: str, env: dict):
    """Yield outcomes as the executor finishes them; a killed nbgrader process is started again.

    (On Dask, the scheduler also reruns by itself the task of a worker that was lost.)
    """
    attempts = dict.fromkeys(students, 0)
    running = {}

    def start(student):
        attempts[student] += 1
        running[executor.submit(grade_one, str(course), student, database, env)] = student

    for student in students:
        start(student)
    while running:
        finished, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in finished:
            student = running.pop(future)
            try:
                outcome = Outcome(**future.result())
            except InfrastructureError as error:
                if attempts[student] < ATTEMPTS:
                    start(student)
                    continue
                outcome = Outcome(student, "failed", reason=f"{error}, {ATTEMPTS} times")
            except Exception as error:  # A lost Dask worker after the scheduler's own retries.
                outcome = Outcome(student, "failed", reason=f"{type(error).__name__}: {error}")
            outcome.attempts = attempts[student]
            yield outcome


def write_report(path: Path, outcomes: list[Outcome]) -> None:
    """The telemetry of every submission as CSV, one row each."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[f.name for f in fields(Outcome)])
        writer.writeheader()
        writer.writerows(asdict(outcome) for outcome in outcomes)
