"""What the executor (in the grading process) hands the checker, and the events it reports.

- **Records**: one JSON file per graded notebook, written by :class:`grading.execute.GuardedExecute`
  in a folder of its own (:data:`RECORDS_ENV`, the grader's user only) and read by the checker:
  ``{"seed": the fresh inputs' seed, "harvests": [{"request": the probes sent, "answer": the name
  of the file beside it that holds the kernel's answer, unread, or "error": why there is none}],
  "cells": {grade id: {"probes": {probe key: [harvest index, position]}, "state": ..., "message":
  ...}}}``. The checker reads at most :data:`MAX_RECORDS_BYTES` of it.
- **Events**: JSON lines appended to the file named by :data:`EVENTS_ENV` (kernel deaths, cell
  timeouts, refused writes, signals), for the grading report.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from pathlib import Path

RECORDS_ENV = "GRADING_RECORDS"
EVENTS_ENV = "GRADING_EVENTS"
MAX_RECORDS_BYTES = 16 * 2**20
_RECORDS: dict[str, Path] = {}


def records_folder() -> Path:
    """Where this process keeps the records and answers for the checker (the grader's user only):
    :data:`RECORDS_ENV` (the grader makes one per submission and removes it afterwards), or else a
    temporary folder removed when the process ends."""
    if "folder" not in _RECORDS:
        given = os.environ.get(RECORDS_ENV)
        if given:
            folder = Path(given)
            folder.mkdir(mode=0o700, exist_ok=True)
        else:
            folder = Path(tempfile.mkdtemp(prefix="grading-records-"))
            atexit.register(shutil.rmtree, folder, True)
        _RECORDS["folder"] = folder
    return _RECORDS["folder"]


def write_records(path: Path, records: dict) -> None:
    path.write_text(json.dumps(records))


def read_records(path: Path) -> dict:
    with open(path, "rb") as handle:
        found = json.loads(handle.read(MAX_RECORDS_BYTES))
    if not isinstance(found, dict):
        raise ValueError("records are not an object")
    return found


def record_event(event: str, notebook: str, **details) -> None:
    """Append an event for the grading report to the file named by :data:`EVENTS_ENV`, if any."""
    path = os.environ.get(EVENTS_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"event": event, "notebook": notebook, **details}) + "\n")


def read_events(path: Path) -> list[dict]:
    """The events recorded in ``path`` (none when it does not exist)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
