"""Grade every submission of the assignment with several workers at once, into one gradebook.

``nbgrader autograde`` grades one student at a time. :func:`grade_all` runs one ``nbgrader
autograde --student=S`` per submission, several at once: in local worker threads (each waits on its
own nbgrader process), or, given a scheduler address, as tasks on a Dask distributed cluster whose
workers share the course folder and reach the gradebook. Each run is nbgrader's own, with this
course's steps (:mod:`grading.execute`, :mod:`grading.verdicts`), so the scores are exactly those
of sequential grading.

- Staging (:mod:`grading.staging`): a submission is first copied into ``.grading/staged/`` as
  regular files only, within size and count limits, with a note for everything left out; nbgrader
  grades that copy. A notebook that is not valid JSON or nbformat is left out of it and graded as
  missing (0 points), with a note, instead of failing the whole submission.
- A consistent gradebook: before a changed submission is graded, the scores, graded notebooks and
  feedback of its previous version are removed, so a grading that fails leaves no old score beside
  the new notebook; the report and the student's feedback (``python -m grading feedback``) say why.
- Resuming: every grading leaves a receipt (:data:`RECEIPTS`) with a fingerprint of the files
  graded. A later run skips a submission whose receipt matches its files, graded or failed: a
  failed submission is graded again only when the instructor asks (``retry_failed``, ``force``).
- The gradebook: SQLite allows one writer at a time, and nbgrader holds the database only for short
  transactions; every nbgrader process here waits up to :data:`SQLITE_WAIT_SECONDS` for the lock
  instead of SQLite's default 5 s. A PostgreSQL URL (``postgresql+psycopg://...``) is used as given.
- Failures: an nbgrader process killed from outside (a signal: the machine ran out of memory, an
  operator, a lost Dask worker) is an infrastructure failure and is retried, up to
  :data:`ATTEMPTS` times; an nbgrader run that fails by itself is the submission's failure and is
  recorded with its reason, without retrying.
- The sandbox (:mod:`grading.sandbox`): every submission gets its own bounds on memory and
  processes (one for its kernels, one for the checker: cgroups where the grader may create them,
  else a watchdog) and its kernels start inside bubblewrap; a grader without root runs each
  nbgrader process in namespaces of its own (:func:`grading.sandbox.grader_namespace`). Grading
  refuses to start where that cannot be set up, unless the caller passes ``sandbox=False``
  (``--no-sandbox``). A
  submission also has a wall-clock budget (:data:`SUBMISSION_BUDGET_SECONDS`): past it, its
  grading is stopped and recorded as failed.
- Telemetry: wall time, peak memory, attempts, cell timeouts, kernel deaths, sandbox violations
  and notes for the student of every submission, in ``grading_report.csv``.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, fields, replace
from functools import partial
from pathlib import Path

from grading import course as c
from grading import sandbox as sb
from grading import signals
from grading import staging
from grading.execute import EVENTS_ENV, RECORDS_ENV
from grading.run_nbgrader import PREPARE_ENV, RESULT_ENV

WORK = ".grading"  # the grader's own folder in the course: staged copies and receipts
STAGED = f"{WORK}/staged"
RECEIPTS = f"{WORK}/receipts"
REPORT = "grading_report.csv"
ATTEMPTS = 3
SQLITE_WAIT_SECONDS = 300
SUBMISSION_BUDGET_SECONDS = 3600


@dataclass
class Outcome:
    """What grading one submission did: one row of the report."""

    student: str
    status: str  # "graded", "unchanged" (skipped: graded before, files the same) or "failed"
    seconds: float = 0.0
    peak_memory_mb: float = 0.0  # kernels, checker and the grading process together
    grader_memory_mb: float = 0.0  # the grading process (nbgrader) alone: it reads every answer of the kernels
    attempts: int = 0
    cell_timeouts: int = 0
    kernel_deaths: int = 0
    sandbox_violations: str = ""  # e.g. "memory limit x1; refused forks x12; output truncated x1"
    notes: str = ""  # what the student should be told beyond the feedback (e.g. an unreadable notebook)
    signals: str = ""  # what the instructor should look at, never a score (see grading/signals.py)
    reason: str = ""  # why grading failed


def database_url(course: Path) -> str:
    """The course's SQLite gradebook, with a long wait for the write lock."""
    return f"{c.gradebook_url(course)}?timeout={SQLITE_WAIT_SECONDS}"


def submitted(course: Path) -> list[str]:
    """Students with a submission of the assignment in ``submitted/``, sorted."""
    return sorted(p.parent.name for p in (course / "submitted").glob(f"*/{c.ASSIGNMENT}") if p.is_dir())


def receipt_path(course: Path, student: str) -> Path:
    return course / RECEIPTS / f"{student}.json"


def last_grading(course: Path, student: str) -> dict | None:
    """The receipt of the last grading of this submission (its outcome and notes), if its files
    have not changed since."""
    receipt = _receipt(course, student)
    if not receipt or receipt.get("fingerprint") != staging.fingerprint(course / "submitted" / student / c.ASSIGNMENT):
        return None
    return receipt


@dataclass
class Settings:
    """How every submission is graded: the same for local workers and Dask workers."""

    database: str
    env: dict
    limits: sb.Limits | None = None  # None: no sandbox
    way: sb.Way | None = None  # how the limits are enforced (grading.sandbox.choose)
    read_only: tuple = ()  # paths kernels may read besides Python (the data and its cache)
    budget_seconds: int = SUBMISSION_BUDGET_SECONDS
    nbgrader_options: tuple = ()  # e.g. ("--Execute.timeout=20",)


def grade_one(course: str, student: str, settings: Settings) -> dict:
    """Autograde one submission in its own nbgrader process (this runs in a worker).

    A notebook that nbgrader cannot process at all (it then drops the whole submission) is left
    out, with a note saying why and what to do, and the others are graded again without it.
    Returns the fields of an :class:`Outcome`; raises :class:`InfrastructureError` when the
    nbgrader process was killed from outside, so that it is retried.
    """
    course_path = Path(course)
    (course_path / WORK).mkdir(mode=0o700, exist_ok=True)  # students' files: the grader's user only
    # The instructor's hand grades are kept, to be given back to the new grading where the answer
    # they were given for is the same; then, before anything of the new submission is read, the
    # old grading goes: no old score can outlive a failure below.
    earlier = _receipt(course_path, student)
    kept = c.hand_grades(course_path, student, settings.database) or earlier.get("hand_grades") or []
    c.forget_grading(course_path, student, settings.database)
    submission = course_path / "submitted" / student / c.ASSIGNMENT
    staged = course_path / STAGED / student / c.ASSIGNMENT
    staging.remove(staged.parent)
    work = Path(tempfile.mkdtemp(prefix="grading-"))  # records, events and the result: removed below
    groups: dict[str, sb.Bounds] = {}
    mounts = None
    try:
        files = staging.fingerprint(submission)  # as last_grading() computes it for the receipt
        notes = staging.stage(submission, staged)
        expected = sorted(path.stem for path in (course_path / "source" / c.ASSIGNMENT).glob("*.ipynb"))
        env = {**settings.env, EVENTS_ENV: str(work / "events.jsonl"), RECORDS_ENV: str(work / "records"),
               RESULT_ENV: str(work / "result.json")}
        namespace = []
        if settings.limits is not None:
            name = re.sub(r"[^\w.-]", "_", student)
            mounts = sb.mounts_folder()
            for role, memory in (("kernels", None), ("checker", settings.limits.checker_memory_mb),
                                 ("grader", settings.limits.grader_memory_mb)):
                groups[role] = settings.way.create(f"{name}-{role}", settings.limits, mounts, memory_mb=memory,
                                                   own_process=role == "grader")
            env[sb.SANDBOX_ENV] = sb.Sandbox(groups["kernels"].to_dict(), settings.limits, list(settings.read_only),
                                             checker_group=groups["checker"].to_dict(), mounts=str(mounts)).to_env()
            namespace = sb.grader_namespace()  # where a grader without root may mount the kernels' tmpfs
        command = [*namespace, sys.executable, "-m", "grading.run_nbgrader", "autograde", c.ASSIGNMENT, "--force",
                   f"--student={student}", f"--CourseDirectory.submitted_directory={STAGED}",
                   *c.database_option(settings.database), *settings.nbgrader_options]
        if "grader" in groups:
            command = groups["grader"].launch(command)
        start, left_out = time.perf_counter(), []
        while True:
            env[PREPARE_ENV] = json.dumps({"folder": str(staged), "notebooks": [n for n in expected if n not in left_out],
                                           "reference": str(course_path / "release" / c.ASSIGNMENT)})
            budget = settings.budget_seconds - (time.perf_counter() - start)
            returncode, log, over_budget = run_bounded(command, course_path, c.grading_env(env), max(1.0, budget),
                                                       started=groups["grader"].started if "grader" in groups else None)
            result = read_result(work / "result.json")
            failed = Path(str(result.get("notebook") or "")).stem
            if returncode <= 0 or over_budget or failed not in expected or failed in left_out:
                break
            # nbgrader could not process this notebook, and dropped the whole submission with it.
            left_out.append(failed)
            (staged / f"{failed}.ipynb").unlink(missing_ok=True)
            notes.append(f"{failed}.ipynb could not be graded ({result.get('error') or 'nbgrader failed on it'}), so "
                         "it counts as not submitted: 0 points for it. Check that it opens in JupyterLab and that its "
                         "test cells are as they were given, then submit it again")
            c.forget_grading(course_path, student, settings.database)
        seconds = time.perf_counter() - start
        counters = {role: group.counters() for role, group in groups.items()}
        events = read_events(work / "events.jsonl")
    finally:
        for group in groups.values():
            group.remove()
        if mounts is not None:  # the kernels' private mounts, even when nbgrader was killed
            sb.remove_mounts(mounts)
        shutil.rmtree(work, ignore_errors=True)
        staging.remove(staged.parent)
    grader_killed = counters.get("grader", {}).get("memory_kills", 0) > 0
    if not over_budget and returncode < 0 and not grader_killed:
        raise InfrastructureError(f"nbgrader for {student} was killed by signal {-returncode}")
    prepared = result.get("prepare") or {}
    kinds = Counter(event["event"] for event in events)
    outcome = Outcome(student, "graded" if returncode == 0 and not over_budget else "failed", round(seconds, 1),
                      peak_memory(counters, result), float(result.get("peak_memory_mb") or 0), 1,
                      cell_timeouts=kinds["cell_timeout"],
                      kernel_deaths=kinds["kernel_death"], sandbox_violations=violations(events, counters.get("kernels", {})),
                      notes=NOTES_SEPARATOR.join(notes + list(prepared.get("notes") or []) + student_notes(events)),
                      signals="; ".join(signals.from_events(events, prepared.get("shown") or {})
                                        + signals.restored_cells(result.get("restored") or [])
                                        + list(prepared.get("grader_notes") or [])))
    if over_budget:
        outcome.reason = f"grading stopped after {settings.budget_seconds} s, the time budget of a submission"
    elif grader_killed:
        outcome.reason = (f"grading it needed more than the {settings.limits.grader_memory_mb:,} MB of memory the grader's "
                          "own process may use for one submission")
    elif returncode != 0:
        last = log.strip().splitlines()[-1][:300] if log.strip() else "no output"
        error = result.get("error") or f"nbgrader exited with {returncode} ({last})"
        outcome.reason = (f"{result['notebook']}: " if result.get("notebook") and result.get("error") else "") + error
    if outcome.status == "failed":
        c.forget_grading(course_path, student, settings.database)  # nothing half-graded stays behind
    elif kept:
        dropped = c.restore_hand_grades(course_path, student, kept, earlier.get("fingerprint") == files,
                                        settings.database)
        outcome.signals = "; ".join(filter(None, [outcome.signals, *dropped]))
    receipt = receipt_path(course_path, student)
    receipt.parent.mkdir(parents=True, exist_ok=True)
    receipt.write_text(json.dumps({"fingerprint": files, "outcome": asdict(outcome), "hand_grades": kept,
                                   "digests": prepared.get("digests") or {}}))
    return asdict(outcome)


def _receipt(course: Path, student: str) -> dict:
    """The receipt of the submission's last grading, whatever its files are now (empty if none)."""
    try:
        found = json.loads(receipt_path(course, student).read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


# Notes for the student, one per line in the report (a note may hold "; " itself).
NOTES_SEPARATOR = "\n"


LOG_TAIL_BYTES = 64 * 1024  # of nbgrader's own output, kept for a failure's reason


def run_bounded(command: list[str], cwd: Path, env: dict, budget: float, started=None) -> tuple[int, str, bool]:
    """Run ``command`` for at most ``budget`` seconds (then kill its process group); returns its
    exit code, the last :data:`LOG_TAIL_BYTES` of its output, and whether it ran out of time.
    ``started`` is told the process's pid (a watchdog watches it)."""
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        if started is not None:
            started(process.pid)
        try:
            process.wait(timeout=budget)
            over_budget = False
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            over_budget = True
        size = output.seek(0, os.SEEK_END)
        output.seek(max(0, size - LOG_TAIL_BYTES))
        return process.returncode, output.read().decode(errors="replace"), over_budget


def read_events(path: Path) -> list[dict]:
    """The events the grading process recorded (see :func:`grading.execute.record_event`)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def read_result(path: Path) -> dict:
    """What the grading process wrote when it ended (see :mod:`grading.run_nbgrader`); empty if it did not."""
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def peak_memory(counters: dict, result: dict) -> float:
    """The submission's peak memory in MB: its kernels', its checker's and its grading process's
    peaks added up (each sampled or counted apart, so the sum is at most a little high)."""
    kernels = counters.get("kernels", {}).get("peak_memory_mb", 0)
    checker = counters.get("checker", {}).get("peak_memory_mb", 0)
    return float(kernels + checker + (result.get("peak_memory_mb") or 0))


def violations(events: list[dict], counters: dict) -> str:
    """One line of what a submission ran into: the sandbox's limits and the grader's checks."""
    found = Counter()
    found["memory limit"] += counters.get("memory_kills", 0)
    found["refused forks"] += counters.get("refused_forks", 0)
    found["process limit"] += counters.get("process_kills", 0)  # the watchdog killed a kernel over the cap
    for event in events:
        if event["event"] == "kernel_death" and "CPU time" in event.get("reason", ""):
            found["CPU time limit"] += 1
        elif event["event"] in ("output_truncated", "notebook_budget"):
            found[event["event"].replace("_", " ")] += 1
    return "; ".join(f"{name} x{count}" for name, count in found.items() if count)


def student_notes(events: list[dict]) -> list[str]:
    """Kernel deaths and refused writes, as the student should read them (the cells' own outputs say the rest)."""
    notes = [f"{event['notebook']}: the kernel died: {event['reason']}" for event in events if event["event"] == "kernel_death"]
    for notebook in sorted({event["notebook"] for event in events if event["event"] == "weights_write_refused"}):
        notes.append(f"{notebook}: a cell tried to overwrite the trained weights while the notebook was graded; the "
                     "weights files you submitted were measured, as they are")
    return notes


class InfrastructureError(RuntimeError):
    """The grading process was killed from outside: retry it, the submission is not to blame."""


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
        staging_file = self.file.with_name(self.file.name + ".new")
        staging_file.write_text(json.dumps(state))
        os.replace(staging_file, self.file)


def grade_all(course: Path, env: dict, workers: int | None = None, scheduler: str | None = None,
              students: list[str] | None = None, database: str | None = None,
              force: bool = False, retry_failed: bool = False, progress: bool = True, sandbox: bool = True,
              limits: sb.Limits | None = None, budget_seconds: int = SUBMISSION_BUDGET_SECONDS,
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
    way = None
    if sandbox:
        found = sb.problems(limits_way)
        if found:
            raise sb.SandboxUnavailable("the sandbox for students' code cannot be set up on this machine:\n  - "
                                        + "\n  - ".join(found))
        if limits is None:
            limits = sb.Limits(cpu_cores=max(1.0, (os.cpu_count() or 1) / (workers or os.cpu_count() or 1)))
        way = sb.choose(limits_way)
        if progress:
            print(f"limits: {way.name} ({way.why})", file=sys.stderr, flush=True)
    env = dict(env)
    read_only = tuple(_data_paths(env)) if sandbox else ()
    settings = Settings(database or database_url(course), env, limits if sandbox else None, way, read_only,
                        budget_seconds, tuple(nbgrader_options))
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


def not_graded_again(earlier: dict) -> Outcome:
    """The report's row for a submission unchanged since its last grading (``earlier``, its receipt)."""
    outcome = earlier["outcome"]
    if outcome["status"] == "failed":
        return Outcome(**{**outcome, "reason": outcome["reason"]
                          + " (not graded again: unchanged since; --retry-failed grades it again)"})
    return Outcome(**{**outcome, "status": "unchanged"})


def with_class_signals(course: Path, outcomes: list[Outcome]) -> list[Outcome]:
    """``outcomes`` with the signals that compare students (identical weights files) added, from the
    receipts of every submission graded so far."""
    found = {}
    for student in submitted(course):
        try:
            found[student] = json.loads(receipt_path(course, student).read_text()).get("digests") or {}
        except (OSError, ValueError):
            pass
    shared = signals.shared_weights(found)
    return [replace(outcome, signals="; ".join(filter(None, [outcome.signals, *shared.get(outcome.student, [])])))
            for outcome in outcomes]


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
            data.load_cifar10_arrays(env["CIFAR10_PATH"])
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
                if attempts[student] < ATTEMPTS:
                    start(student)
                    continue
                outcome = Outcome(student, "failed", reason=f"{error}, {ATTEMPTS} times")
            except Exception as error:  # A lost Dask worker after the scheduler's own retries.
                outcome = Outcome(student, "failed", reason=f"{type(error).__name__}: {error}")
            if outcome.status == "failed":  # whatever a killed attempt left in the gradebook goes
                c.forget_grading(course, student, settings.database)
            outcome.attempts = attempts[student]
            yield outcome


def write_report(path: Path, outcomes: list[Outcome]) -> None:
    """The telemetry of every submission as CSV, one row each."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[f.name for f in fields(Outcome)])
        writer.writeheader()
        writer.writerows(asdict(outcome) for outcome in outcomes)
