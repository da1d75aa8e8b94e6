"""The conversation between the grader (:class:`grading.verdicts.Checker`) and the checker process
(:mod:`grading.checker.__main__`), one JSON object per line.

The grader writes a request on the checker's stdin: ``{"notebook", "records", "submission",
"tests"}``. The checker answers on stdout, each line prefixed with :data:`ANSWER` (anything else a
library prints there is ignored): ``{"start": grade id}`` before it decides a test,
``{"verdict": grade id, "passed": bool, "message": text, "signals": {...}, "seconds": {"rebuilds",
"predictions"}}`` once it has (the seconds are the grading's breakdown, never a score), and
``{"done": notebook}`` at the end; a test that kills the checker is known by its ``start``.
"""

from __future__ import annotations

import json

ANSWER = "grading-checker-answer:"


def request(notebook: str, records: str, submission: str, tests: list[str] | None) -> str:
    return json.dumps({"notebook": notebook, "records": records, "submission": submission, "tests": tests}) + "\n"


def read_request(line: str) -> dict:
    return json.loads(line)


def start(grade_id: str) -> str:
    return ANSWER + json.dumps({"start": grade_id}) + "\n"


def verdict(grade_id: str, found: dict) -> str:
    return ANSWER + json.dumps({"verdict": grade_id, **found}) + "\n"


def done(notebook: str) -> str:
    return ANSWER + json.dumps({"done": notebook}) + "\n"


def read(line: str) -> tuple[str, str, dict] | None:
    """``(kind, name, details)`` of an answer line (``kind``: start, verdict or done); ``None`` for
    any other line, or one that is not a well-formed answer."""
    if not line.startswith(ANSWER):
        return None
    try:
        message = json.loads(line[len(ANSWER):])
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    for kind in ("start", "verdict", "done"):
        if isinstance(message.get(kind), str):
            name = message.pop(kind)
            return kind, name, message
    return None
