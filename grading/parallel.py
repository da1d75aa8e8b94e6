"""Grade every submission of the assignment with several workers at once, into one gradebook.

``nbgrader autograde`` grades one student at a time. :func:`grade_all` grades one submission per
worker (:func:`grading.submission.grade_one`: one ``nbgrader autograde --student=S`` in a process of
its own), several at once: in local worker threads (each waits on its own nbgrader process), or,
given a scheduler address, as tasks on a Dask distributed cluster whose workers share the course
folder and reach the gradebook. Each run is nbgrader's own, with this course's steps
(:mod:`grading.execute`, :mod:`grading.verdicts`), so the scores are exactly those of sequential
grading. A submission whose files have not changed since its last grading is skipped (its receipt,
:mod:`grading.report`); an nbgrader process killed from outside is tried again, up to
:attr:`grading.settings.GradingSettings.attempts` times. The outcome of every submission goes to
``grading_report.csv``; the limits, budgets and thresholds come from the course's
``nbgrader_config.py`` (:mod:`grading.settings`).
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from functools import partial
from pathlib import Path

from grading import gradebook
from grading import sandbox as sb
from grading import settings as grading_settings
from grading.protocol.progress import write_progress
from grading.report import REPORT, Outcome, last_grading, not_graded_again, submitted, with_class_signals, write_report
from grading.submission import InfrastructureError, Settings, database_url, grade_one


class Progress:
    """One line of done / failed / remaining, rewritten in place on a terminal; and, with ``file``,
    the same as JSON in that file, rewritten whole at every step (the formgrader shows it)."""

    def __init__(self, total: int, stream=sys.stderr, enabled: bool = True, file: Path | None = None):
        self.total, self.stream, self.enabled, self.done, self.failed = total, stream, enabled, 0, 0
        self.in_place = stream.isatty()
        self.file, self.started = file, time.time()
        self._write(None)

    def update(self, outcome: Outcome) -> None:
        self.done += 1
        self.failed += outcome.status == "failed"
        self._write(outcome)
        if not self.enabled:
            return
        width = 30
        filled = round(width * self.done / max(self.total, 1))
        line = (f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} done, "
                f"{self.failed} failed, {self.total - self.done} remaining ({outcome.student}: {outcome.status})")
        self.stream.write(("\r" + line) if self.in_place else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        self._write(None, finished=True)
        if self.enabled and self.in_place:
            self.stream.write("\n")

    def _write(self, outcome: Outcome | None, finished: bool = False) -> None:
        if self.file is None:
            return
        state = {"pid": os.getpid(), "total": self.total, "done": self.done, "failed": self.failed,
                 "started": self.started, "finished": time.time() if finished else None,
                 "last": {"student": outcome.student, "status": outcome.status} if outcome else None}
        write_progress(self.file, state)


def grade_all(course: Path, env: dict, workers: int | None = None, scheduler: str | None = None,
              students: list[str] | None = None, database: str | None = None,
              force: bool = False, retry_failed: bool = False, progress: bool = True, sandbox: bool = True,
              limits: sb.Limits | None = None, budget_seconds: int | None = None,
              nbgrader_options: tuple = (), limits_way: str = "auto",
              progress_file: Path | None = None) -> list[Outcome]:
    """Grade the submissions of ``students`` (default: every one in ``submitted/``).

    ``workers`` local threads each drive one nbgrader process (default: one per CPU); with
    ``scheduler`` (a Dask address, or a ``distributed.Client``) the work goes to that cluster
    instead. A submission whose files have not changed since its last grading is skipped: reported
    ``unchanged`` if it was graded, ``failed`` again (with the earlier reason) if that grading
    failed; ``retry_failed`` grades those failed ones again, ``force`` every one. Each submission runs in the sandbox
    with ``limits`` (default: :class:`grading.sandbox.Limits`, with the CPUs shared among the
    workers), enforced as ``limits_way`` says (``auto``, or one of :data:`grading.sandbox.WAYS`;
    the progress output names the way chosen and why); ``sandbox=False`` grades without it. Raises
    :class:`grading.sandbox.SandboxUnavailable` when the sandbox cannot be set up here. Writes ``grading_report.csv`` into the course folder and
    returns the outcomes in the order of ``students``.
    """
    course = Path(course).resolve()
    students = submitted(course) if students is None else list(students)
    configured = grading_settings.load(course)
    way = None
    if sandbox:
        found = sb.problems(limits_way)
        if found:
            raise sb.SandboxUnavailable("the sandbox for students' code cannot be set up on this machine:\n  - "
                                        + "\n  - ".join(found))
        if limits is None:
            limits = configured.limits(cpu_cores=max(1.0, (os.cpu_count() or 1) / (workers or os.cpu_count() or 1)))
        way = sb.choose(limits_way)
        if progress:
            print(f"limits: {way.name} ({way.why})", file=sys.stderr, flush=True)
    env = dict(env)
    read_only = tuple(_data_paths(env)) if sandbox else ()
    settings = Settings(database or database_url(course), env, limits if sandbox else None, way, read_only,
                        budget_seconds or configured.submission_seconds, tuple(nbgrader_options), configured.attempts,
                        (configured.shown_accuracy_gap, configured.test_margin))
    outcomes: dict[str, Outcome] = {}
    todo = []
    for student in students:
        earlier = None if force else last_grading(course, student)
        if earlier is None or (retry_failed and earlier["outcome"]["status"] == "failed"):
            todo.append(student)
        else:
            outcomes[student] = not_graded_again(earlier)
    bar = Progress(len(students), enabled=progress, file=progress_file)
    for outcome in outcomes.values():
        bar.update(outcome)
    if todo:
        with _Workers(workers, scheduler) as executor:
            for outcome in _grade_with(executor, course, todo, settings):
                outcomes[outcome.student] = outcome
                bar.update(outcome)
    bar.close()
    # The report covers the class: students not graded in this run (the formgrader grades one at a
    # time) keep the row of their last grading while their files are unchanged.
    others = [not_graded_again(earlier) for earlier in map(partial(last_grading, course),
                                                          sorted(set(submitted(course)) - set(students))) if earlier]
    ordered = with_class_signals(course, [outcomes[student] for student in students] + others)
    write_report(course / REPORT, ordered)
    if sandbox:
        sb.tidy_runtime_root()
    return ordered[:len(students)]


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


def _data_paths(env: dict) -> list[str]:
    """What kernels read besides Python: the CIFAR-10 copy and the decoded-array cache, which is
    filled here first (read-only in the sandbox, so no submission can poison it for the next).
    Points ``env`` (the kernels' environment) at that cache."""
    from cifar10_course import data

    env.setdefault(data.CACHE_VARIABLE, str(data.cache_root()))
    paths = [env[data.CACHE_VARIABLE]]
    if env.get("CIFAR10_PATH"):
        paths.append(env["CIFAR10_PATH"])
        try:
            data.prepare_cache(env["CIFAR10_PATH"])  # the scaled images too, which full-mode kernels map
        except Exception:  # a broken copy: the notebooks say so in their own output
            pass
    return paths


def _grade_with(executor, course: Path, students: list[str], settings: Settings):
    """Yield outcomes as the executor finishes them; a killed nbgrader process is started again.

    (On Dask, the scheduler also reruns by itself the task of a worker that was lost.)
    """
    attempts = dict.fromkeys(students, 0)
    running = {}

    def start(student):
        attempts[student] += 1
        running[executor.submit(grade_one, str(course), student, settings)] = student

    for student in students:
        start(student)
    while running:
        finished, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in finished:
            student = running.pop(future)
            try:
                outcome = Outcome(**future.result())
            except InfrastructureError as error:
                if attempts[student] < settings.attempts:
                    start(student)
                    continue
                outcome = Outcome(student, "failed", reason=f"{error}, {settings.attempts} times")
            except Exception as error:  # A lost Dask worker after the scheduler's own retries.
                outcome = Outcome(student, "failed", reason=f"{type(error).__name__}: {error}")
            if outcome.status == "failed":  # whatever a killed attempt left in the gradebook goes
                gradebook.forget_grading(course, student, settings.database)
            outcome.attempts = attempts[student]
            yield outcome
