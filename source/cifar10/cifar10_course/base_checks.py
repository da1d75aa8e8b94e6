"""What every check shares: the failure a student reads, and the line a passing test prints."""

from __future__ import annotations

class CheckFailed(AssertionError):
    """A course check that failed; its message says what was expected and what was found.

    IPython shows an exception that has a ``_render_traceback_`` method by the lines it returns,
    and nbgrader's Validate dialog shows the same lines: here the message alone, in place of a
    traceback through the course's helpers that ends in it and says nothing a student can act on.
    """

    def _render_traceback_(self) -> list[str]:
        notes = getattr(self, "__notes__", [])
        return [f"\x1b[0;31mTest failed\x1b[0m: {self}", *map(str, notes)]


def report_passed(checked: str, at_grading: str | None = None) -> None:
    """Print what a test cell has just checked and, when grading checks more, what that is.

    Every visible test ends with this, so that a test that passes says what it passed.
    """
    print(f"Passed: {checked}.")
    if at_grading:
        print(f"Checked when your notebook is graded: {at_grading}.")


def article(word: str) -> str:
    """"a" or "an", for the word that follows."""
    return "an" if word[:1].lower() in "aeiou" else "a"
