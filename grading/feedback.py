"""Feedback that shows hidden tests' names, points and messages, never their code.

nbgrader restores hidden tests into the autograded notebook and its feedback HTML shows them
whole, tracebacks included (nbgrader issues #917, #1363). :class:`HideHiddenTests` runs in
``generate_feedback`` before the HTML is written: it replaces every hidden region with a one-line
note and cuts the traceback of a failed hidden test down to its exception and message.
"""

from __future__ import annotations

import re

from nbgrader.preprocessors import NbGraderPreprocessor

BEGIN = "### BEGIN HIDDEN TESTS"
END = "### END HIDDEN TESTS"
NOTE = "# Hidden tests ran here; their code is not shown. A failure's message is below."
_HIDDEN_REGION = re.compile(rf"^[ \t]*{re.escape(BEGIN)}.*?^[ \t]*{re.escape(END)}[^\n]*$", re.S | re.M)


def hide_hidden_tests(source: str) -> str:
    """``source`` with each hidden-test region replaced by :data:`NOTE`."""
    return _HIDDEN_REGION.sub(NOTE, source)


class HideHiddenTests(NbGraderPreprocessor):
    """Remove hidden-test code from cells and from the tracebacks of their errors."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or BEGIN not in cell.source:
            return cell, resources
        cell.source = hide_hidden_tests(cell.source)
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                # The traceback quotes the failing lines; the message alone is what the student needs.
                output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources
