"""Grade one submission: stage it, keep its hand grades, run nbgrader's autograde for it in a
process of its own inside its bounds, and read back what that process found.

- Staging (:mod:`grading.staging`): a submission is first copied into ``.grading/staged/`` as
  regular files only, within size and count limits, with a note for everything left out; nbgrader
  grades that copy. A notebook nbgrader cannot process is left out and graded as missing (0
  points), with a note, instead of failing the whole submission.
- A consistent gradebook: before a changed submission is graded, the scores, graded notebooks and
  feedback of its previous version are removed, so a grading that fails leaves no old score beside
  the new notebook; the hand grades are kept and given back where the answer did not change.
- The gradebook: SQLite allows one writer at a time, and nbgrader holds the database only for short
  transactions; every nbgrader process here waits up to :data:`SQLITE_WAIT_SECONDS` for the lock
  instead of SQLite's default 5 s. A PostgreSQL URL (``postgresql+psycopg://...``) is used as given.
- Failures: an nbgrader process killed from outside (a signal: the machine ran out of memory, an
  operator, a lost Dask worker) raises :class:`InfrastructureError`, which the caller retries; an
  nbgrader run that fails by itself is the submission's failure and is recorded with its reason.
- The sandbox (:mod:`grading.sandbox`): bounds on memory and processes for the kernels, the
  checker and the grading process (cgroups where the grader may create them, else a watchdog);
  kernels start inside bubblewrap; a grader without root runs the nbgrader process in namespaces
  of its own (:func:`grading.sandbox.grader_namespace`). A submission also has a wall-clock
  budget: past it, its grading is stopped and recorded as failed.
"""

from __future__ import annotations

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
from dataclasses import asdict, dataclass
from pathlib import Path

from grading import course as c
from grading import gradebook
from grading import sandbox as sb
from grading import signals, staging
from grading.protocol.records import EVENTS_ENV, RECORDS_ENV, read_events
from grading.protocol.results import PREPARE_ENV, RESULT_ENV, prepare_request, read_result
from grading.report import (NOTES_SEPARATOR, STAGED, WORK, Outcome, phase_seconds, phase_summary, read_receipt,
                            receipt_path)

SQLITE_WAIT_SECONDS = 300


def database_url(course: Path) -> str:
    """The course's SQLite gradebook, with a long wait for the write lock."""
    return f"{c.gradebook_url(course)}?timeout={SQLITE_WAIT_SECONDS}"


@dataclass
class Settings:
    """How every submission is graded: the same for local workers and Dask workers."""

    database: str
    env: dict
    limits: sb.Limits | None = None  # None: no sandbox
    way: sb.Way | None = None  # how the limits are enforced (grading.sandbox.choose)
    read_only: tuple = ()  # paths kernels may read besides Python (the data and its cache)
    budget_seconds: int = 3600  # wall-clock seconds of one submission (GradingSettings.submission_seconds)
    nbgrader_options: tuple = ()  # e.g. ("--Execute.timeout=20",)
    attempts: int = 3  # GradingSettings.attempts
    thresholds: tuple = (0.02, 0.05)  # the signals' (GradingSettings.shown_accuracy_gap, .test_margin)


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
    earlier = read_receipt(course_path, student)
    kept = gradebook.hand_grades(course_path, student, settings.database) or earlier.get("hand_grades") or []
    gradebook.forget_grading(course_path, student, settings.database)
    submission = course_path / "submitted" / student / c.ASSIGNMENT
    staged = course_path / STAGED / student / c.ASSIGNMENT
    staging.remove(staged.parent)
    work = Path(tempfile.mkdtemp(prefix="grading-"))  # records, events and the result: removed below
    groups: dict[str, sb.Bounds] = {}
    mounts = None
    try:
        staging_start = time.perf_counter()
        files = staging.fingerprint(submission)  # as last_grading() computes it for the receipt
        notes = staging.stage(submission, staged)
        staging_seconds = time.perf_counter() - staging_start
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
                   *c.database_option(settings.database), *settings.nbgrader_options,
                   *([] if settings.limits is not None else ["--GuardedExecute.sandbox_required=False"])]
        if "grader" in groups:
            command = groups["grader"].launch(command)
        start, left_out = time.perf_counter(), []
        while True:
            env[PREPARE_ENV] = prepare_request(staged, [n for n in expected if n not in left_out],
                                               course_path / "release" / c.ASSIGNMENT)
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
            gradebook.forget_grading(course_path, student, settings.database)
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
                      signals="; ".join(signals.from_events(events, prepared.get("shown") or {}, *settings.thresholds)
                                        + signals.restored_cells(result.get("restored") or [])
                                        + list(prepared.get("grader_notes") or [])),
                      phases=phase_summary(phase_seconds(events, staging_seconds, seconds)))
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
        gradebook.forget_grading(course_path, student, settings.database)  # nothing half-graded stays behind
    elif kept:
        dropped = gradebook.restore_hand_grades(course_path, student, kept, earlier.get("fingerprint") == files,
                                        settings.database)
        outcome.signals = "; ".join(filter(None, [outcome.signals, *dropped]))
    receipt = receipt_path(course_path, student)
    receipt.parent.mkdir(parents=True, exist_ok=True)
    receipt.write_text(json.dumps({"fingerprint": files, "outcome": asdict(outcome), "hand_grades": kept,
                                   "digests": prepared.get("digests") or {}}))
    return asdict(outcome)


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
