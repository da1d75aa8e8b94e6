"""The checker process: decides the graded tests of one submission without running its code.

    python -I -m grading.checker --mode full [--data PATH]

:class:`grading.verdicts.Checker` starts it once per nbgrader process (one submission), in the
sandbox where grading has one (without network, as an unprivileged user, reading only what it
needs), and sends one request per notebook on stdin, a JSON line::

    {"notebook": "part2_mlp", "records": "/.../part2_mlp.json", "submission": "/.../autograded/s/cifar10"}

``records`` is what the grader's executor wrote: the probes it sent after each graded cell and the
kernel's answers, untrusted. The answer is one line on stdout, after :data:`ANSWER`::

    {"part2_mlp": {"multilayer_nn_parameters": {"passed": true, "message": "..."}, ...}}

``-I`` keeps the student's folder and environment variables out of ``sys.path``: the checker
imports only the grader's own code and the course package from the instructor's ``source/``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import traceback
from pathlib import Path

from grading.checker import Failed, graded_tests
from grading.checker.data import CourseData
from grading.checker.evidence import Evidence

ANSWER = "grading-checker-answer:"
MESSAGE_LIMIT = 4000


def check_notebook(request: dict, data: CourseData, workdir: Path) -> dict:
    """The verdict of every graded test of the notebook in ``request``."""
    notebook = request["notebook"]
    records = json.loads(Path(request["records"]).read_text())
    folder = Path(tempfile.mkdtemp(prefix=f"{notebook}-", dir=workdir))
    evidence = Evidence(records, Path(request["submission"]), data, folder)
    verdicts = {}
    for grade_id, test in graded_tests(notebook).items():
        evidence.grade_id, evidence.signals = grade_id, {}
        try:
            info = test.check(evidence)
            verdicts[grade_id] = {"passed": True, "message": str(info or "")[:MESSAGE_LIMIT]}
        except (Failed, AssertionError) as failure:
            verdicts[grade_id] = {"passed": False, "message": str(failure)[:MESSAGE_LIMIT]}
        except Exception as error:  # A check that cannot read what it was given: no points, and why.
            print(f"checker: {notebook}:{grade_id}: {traceback.format_exc()}", file=sys.stderr)
            verdicts[grade_id] = {"passed": False, "message": (
                f"The grader could not check this test ({type(error).__name__}: {str(error)[:300]}).")}
        if evidence.signals:
            verdicts[grade_id]["signals"] = evidence.signals
    return verdicts


def warm_up(data: CourseData) -> None:
    """Load the data set while the first check starts (Keras is imported only by a check that
    needs a model: Part 1 needs none)."""
    try:
        data.split
    except Exception:  # Reported where a check needs it.
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading.checker", description=__doc__.splitlines()[0])
    parser.add_argument("--mode", required=True)
    parser.add_argument("--data", default=None)
    args = parser.parse_args(argv)
    data = CourseData(args.mode, args.data)
    threading.Thread(target=warm_up, args=(data,), daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="checker-") as workdir:
        for line in sys.stdin:
            request = json.loads(line)
            answer = {request["notebook"]: check_notebook(request, data, Path(workdir))}
            sys.stdout.write(ANSWER + json.dumps(answer) + "\n")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
