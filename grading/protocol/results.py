"""One nbgrader run of the grading process (:mod:`grading.run_nbgrader`) and the grader that
starts it (:func:`grading.parallel.grade_one`): what to prepare, and one JSON result.

- :data:`PREPARE_ENV`: ``{"folder", "notebooks", "reference"}``, the staged submission whose
  notebooks the grading process reads and repairs before nbgrader does (inside its bounds).
- :data:`RESULT_ENV`: the file the grading process writes once, when it ends: ``{"exit": code,
  "prepare": {...}, "notebook": the one nbgrader failed on, "error": why, "restored": cells
  nbgrader restored, "peak_memory_mb": ...}``. The grader reads it instead of nbgrader's log;
  no file (the process was killed) reads as ``{}``.
"""

from __future__ import annotations

import json
from pathlib import Path

PREPARE_ENV = "GRADING_PREPARE"
RESULT_ENV = "GRADING_RESULT"


def prepare_request(folder: Path, notebooks: list[str], reference: Path | None) -> str:
    return json.dumps({"folder": str(folder), "notebooks": list(notebooks), "reference": str(reference or "")})


def read_prepare_request(text: str) -> tuple[Path, list[str], Path | None]:
    request = json.loads(text)
    return Path(request["folder"]), list(request["notebooks"]), Path(request["reference"]) if request.get("reference") else None


def write_result(path: Path, result: dict) -> None:
    path.write_text(json.dumps(result))


def read_result(path: Path) -> dict:
    """What the grading process wrote when it ended; empty if it did not."""
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}
