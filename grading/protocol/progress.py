"""How far a grading run is, for the formgrader: ``python -m grading grade --progress-file F``
rewrites ``F`` whole at every step (a new file moved into place, so a reader never sees half of
one), and the formgrader's Grade button reads it.

``{"pid", "total", "done", "failed", "started", "finished": a time or null, "last": {"student",
"status"} or null}``; a run whose process is gone before ``finished`` stopped early.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_progress(path: Path, state: dict) -> None:
    staging_file = path.with_name(path.name + ".new")
    staging_file.write_text(json.dumps(state))
    os.replace(staging_file, path)


def read_progress(path: Path) -> dict | None:
    """The last progress written, or ``None`` when there is none that can be read."""
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None
