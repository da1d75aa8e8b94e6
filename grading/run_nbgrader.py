"""``python -m grading.run_nbgrader ARGS``: nbgrader's own command line, as one submission's
grading process runs it.

- **Faster start.** rfc3987-syntax (installed with jupyter_events, through jsonschema's format
  checkers) compiles three Earley grammars when it is imported: about 2 s of CPU in every process
  that imports nbformat's validator. nbgrader never checks the syntax of an IRI, and jsonschema
  imports the module only to offer that check, so it is blocked here.
- **The submission's notebooks are read here, not in the grader.** With :data:`PREPARE_ENV` set
  (by :func:`grading.parallel.grade_one`), this process first checks and repairs the staged
  notebooks and reads what the signals need from them (:func:`prepare`), inside the memory bound
  of the submission's grading, so that no notebook is parsed by the process that grades the class.
- **One result, as data.** With :data:`RESULT_ENV` set, it writes one JSON object there when it
  ends: the preparation's notes and readings, the exit code, the exception nbgrader stopped on
  and the notebook it was converting, the locked cells nbgrader restored, and this process's peak
  memory. Read from nbgrader's log records as they are emitted, not from its printed log.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from grading import compat
from grading.protocol.results import PREPARE_ENV, RESULT_ENV, read_prepare_request, write_result

sys.modules.setdefault("rfc3987_syntax", None)  # `import rfc3987_syntax` now raises ImportError


class Findings(logging.Handler):
    """What nbgrader's log records say, kept as data: the notebook being converted, the exception
    that stopped it (taken from the record's context, where nbgrader logs inside its ``except``),
    and the locked cells it found changed."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.found = {"notebook": None, "error": None, "restored": []}

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        if record.msg == compat.CONVERTING_NOTEBOOK and args and self.found["error"] is None:
            self.found["notebook"] = Path(str(args[0])).name
        elif str(record.msg).startswith(compat.CELL_CHANGED) and len(args) >= 2:
            if str(args[1]) not in self.found["restored"]:
                self.found["restored"].append(str(args[1])[:200])
        elif record.levelno >= logging.ERROR and self.found["error"] is None:
            error = sys.exc_info()[1]
            if error is not None:
                self.found["error"] = f"{type(error).__name__}: {str(error)[:400]}"


def prepare(folder: Path, expected: list[str], reference: Path | None) -> dict:
    """Check and repair the staged notebooks (the assignment's ``expected`` ones, against the
    release's in ``reference``) and read what the signals need. A reading that fails is a note,
    never a stop."""
    from grading import signals, staging

    found = {"notes": staging.unreadable_notebooks(folder, expected, reference), "shown": {}, "digests": {},
             "grader_notes": []}
    for name, reading, where in ((
            "notes", lambda: signals.failed_training(folder, expected), "the training cells' outputs"), (
            "shown", lambda: signals.shown_accuracies(folder, expected), "the accuracies the notebooks printed"), (
            "digests", lambda: signals.digests(folder, expected), "the weights files' digests")):
        try:
            value = reading()
        except Exception as error:  # a signal that cannot be computed is only a note for the instructor
            found["grader_notes"].append(f"could not read {where} ({type(error).__name__}: {str(error)[:200]})")
            continue
        found[name] = found[name] + value if name == "notes" else value
    return found


def peak_memory_mb() -> int:
    """This process's peak resident memory since it started its program (``VmHWM``; getrusage's
    figure would include the process it was forked from)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return 0


def main(argv: list[str]) -> int:
    from jupyter_core.application import NoStart
    from nbgrader.apps.nbgraderapp import NbGraderApp

    result: dict = {}
    given = os.environ.get(PREPARE_ENV)
    if given:
        result["prepare"] = prepare(*read_prepare_request(given))
    findings = Findings()
    app = NbGraderApp.instance()
    code = 0
    try:
        app.initialize(argv)
        for application in (app, getattr(app, "subapp", None)):
            if application is not None:
                application.log.addHandler(findings)
        app.start()
    except NoStart:  # a subcommand ran in start(): launch_instance's way of ending well
        pass
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    result.update(exit=code, **findings.found, peak_memory_mb=peak_memory_mb())
    if os.environ.get(RESULT_ENV):
        write_result(Path(os.environ[RESULT_ENV]), result)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
