"""The checker process: decides the graded tests of one submission without running its code.

    python -I -m grading.checker --mode full [--data PATH]

:class:`grading.verdicts.Checker` starts it once per nbgrader process (one submission), in the
sandbox where grading has one (without network, as an unprivileged user, reading only what it
needs, in memory bounds of its own), and sends one request per notebook on stdin, naming the
records the grader's executor wrote (the probes it sent after each graded cell, the seed of their
fresh inputs and, in files beside it, the kernel's answers, untrusted) and the tests to decide.
The checker answers with one line before each test and one after it, so that a test that kills
the checker (out of memory) or takes too long costs only its own verdict: the grader starts a new
checker for the rest. The messages: :mod:`grading.protocol.messages`; the records:
:mod:`grading.protocol.records`.

``-I`` keeps the student's folder and environment variables out of ``sys.path``: the checker
imports only the grader's own code and the course package from the instructor's ``source/``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import threading
import traceback
from pathlib import Path

from cifar10_course.acceptance import shorten
from grading.checker import Failed, graded_tests, sizes
from grading.checker.data import CourseData
from grading.checker.evidence import Evidence
from grading.protocol import messages
from grading.protocol.records import read_records

MESSAGE_LIMIT = 4000


def say(line: str) -> None:
    sys.stdout.write(line)
    sys.stdout.flush()


def verdict(test, evidence: Evidence) -> dict:
    """The verdict of one graded test: passed, or failed with the message the student reads."""
    notebook = evidence.notebook
    try:
        info = test.check(evidence)
        found = {"passed": True, "message": str(info or "")[:MESSAGE_LIMIT]}
    except (Failed, AssertionError) as failure:
        found = {"passed": False, "message": str(failure)[:MESSAGE_LIMIT]}
    except Exception as error:  # A check that cannot read what it was given: no points, and why.
        print(f"checker: {notebook}:{test.grade_id}: {traceback.format_exc()}", file=sys.stderr)
        found = {"passed": False, "message": (
            f"The grader could not check this test ({type(error).__name__}: {shorten(error, 300)}).")}
    if evidence.signals:
        found["signals"] = evidence.signals
    found["seconds"] = {phase: round(seconds, 3) for phase, seconds in evidence.seconds.items()}
    return found


def check_notebook(request: dict, data: CourseData, workdir: Path) -> None:
    """Decide the tests the request names (every one of the notebook's by default), one line each."""
    notebook = request["notebook"]
    records_path = Path(request["records"])
    records = read_records(records_path)
    folder = Path(tempfile.mkdtemp(prefix=f"{notebook}-", dir=workdir))
    evidence = Evidence(records, Path(request["submission"]), data, folder, answers=records_path.parent)
    evidence.notebook = notebook
    wanted = request.get("tests")
    for grade_id, test in graded_tests(notebook).items():
        if wanted is not None and grade_id not in wanted:
            continue
        evidence.grade_id, evidence.signals = grade_id, {}
        evidence.seconds.clear()
        say(messages.start(grade_id))
        say(messages.verdict(grade_id, verdict(test, evidence)))
    say(messages.done(notebook))


def warm_up(data: CourseData, keras: bool) -> None:
    """Load the data set, and import Keras if told, while the checker waits for its first request
    (the grader starts it as the submission's first kernel starts)."""
    try:
        data.split
    except Exception:  # Reported where a check needs it.
        pass
    if keras:
        with contextlib.suppress(Exception):  # likewise
            sizes.keras()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading.checker", description=__doc__.splitlines()[0])
    parser.add_argument("--mode", required=True)
    parser.add_argument("--data", default=None)
    parser.add_argument("--warm-keras", action="store_true", help="import Keras before the first request")
    args = parser.parse_args(argv)
    data = CourseData(args.mode, args.data)
    threading.Thread(target=warm_up, args=(data, args.warm_keras), daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="checker-") as workdir:
        for line in sys.stdin:
            check_notebook(messages.read_request(line), data, Path(workdir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
