"""What grading leaves in the course folder besides nbgrader's own: a receipt per submission
(the fingerprint of the files graded, the outcome, the hand grades kept, the weights' digests) in
:data:`RECEIPTS`, by which a later run skips a submission whose files have not changed; and
``grading_report.csv`` (:data:`REPORT`), one row of telemetry, notes and signals per submission.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from grading import course as c
from grading import signals, staging

WORK = ".grading"  # the grader's own folder in the course: staged copies and receipts
STAGED = f"{WORK}/staged"
RECEIPTS = f"{WORK}/receipts"
REPORT = "grading_report.csv"



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
    phases: str = ""  # where the seconds went: "staging 0.2; kernel starts 9.1; ..." (see phase_summary)


def submitted(course: Path) -> list[str]:
    """Students with a submission of the assignment in ``submitted/``, sorted."""
    return sorted(p.parent.name for p in (course / "submitted").glob(f"*/{c.ASSIGNMENT}") if p.is_dir())


def receipt_path(course: Path, student: str) -> Path:
    return course / RECEIPTS / f"{student}.json"


def last_grading(course: Path, student: str) -> dict | None:
    """The receipt of the last grading of this submission (its outcome and notes), if its files
    have not changed since."""
    found = read_receipt(course, student)
    if not found or found.get("fingerprint") != staging.fingerprint(course / "submitted" / student / c.ASSIGNMENT):
        return None
    return found


def read_receipt(course: Path, student: str) -> dict:
    """The receipt of the submission's last grading, whatever its files are now (empty if none)."""
    try:
        found = json.loads(receipt_path(course, student).read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


# Notes for the student, one per line in the report (a note may hold "; " itself).
NOTES_SEPARATOR = "\n"


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


# The phases of one submission's grading, in the order they happen (benchmarks/bench_grading.py
# prints them). The grading process times its kernels' work (grading.execute), the checker's
# (grading.verdicts, from the checker's own figures) and staging; nbgrader's own steps are the rest
# of the nbgrader process's time.
PHASES = ("staging", "kernel starts", "first cells", "student cells", "test cells", "probes", "checker start",
          "checker rebuilds", "checker predictions", "checker other", "nbgrader's own steps")


def phase_seconds(events: list[dict], staging_seconds: float, nbgrader_seconds: float) -> dict[str, float]:
    """Seconds by phase (:data:`PHASES`) from the grading's ``phases`` events."""
    found = dict.fromkeys(PHASES, 0.0)
    found["staging"] = staging_seconds
    for event in events:
        if event.get("event") == "phases" and isinstance(event.get("seconds"), dict):
            for phase, seconds in event["seconds"].items():
                if phase in found and isinstance(seconds, (int, float)):
                    found[phase] += seconds
    timed = sum(seconds for phase, seconds in found.items() if phase != "staging")
    found["nbgrader's own steps"] = max(0.0, nbgrader_seconds - timed)
    return found


def phase_summary(seconds: dict[str, float]) -> str:
    """``seconds`` as one line of the report: "staging 0.2; kernel starts 9.1; ..."."""
    return "; ".join(f"{phase} {value:.1f}" for phase, value in seconds.items() if value >= 0.05)


def read_phases(summary: str) -> dict[str, float]:
    """The seconds by phase of a :func:`phase_summary` line."""
    found = {}
    for part in filter(None, (piece.strip() for piece in summary.split(";"))):
        phase, _, value = part.rpartition(" ")
        found[phase] = float(value)
    return found


def write_report(path: Path, outcomes: list[Outcome]) -> None:
    """The telemetry of every submission as CSV, one row each."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[f.name for f in fields(Outcome)])
        writer.writeheader()
        writer.writerows(asdict(outcome) for outcome in outcomes)
