"""The graded tests, and the evidence they decide on: every score comes from here.

Each autograded cell of a notebook (a grade cell with code) has a :class:`GradedTest` in the module
of its part (``grading/checker/part1_data.py`` ...): the probes it needs from the student's kernel
(:mod:`grading.protocol.probes`) and a check that decides from their answers. The checks run in the checker
process (``python -m grading.checker``), which never runs a student's code: it reads the answers
the kernel gave as data (:class:`Evidence` refuses pickles, objects, oversized arrays and
anything but Keras's own layers), rebuilds and measures models itself, and loads the data set and
the run mode itself, from the grader's configuration. These modules are the hidden tests: they
never reach students, and no sandboxed kernel can read them.

A check raises :class:`Failed` (or ``AssertionError``) with the message the student reads, or
returns ``None`` or a line of information (an accuracy, say) on success.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

PARTS = ("part1_data", "part2_mlp", "part3_cnn", "part4_binary", "part5_deeper", "part6_bias")
# Parts with networks: their notebooks import TensorFlow first, and their checks need Keras.
NETWORK_PARTS = PARTS[1:]


class Failed(AssertionError):
    """A graded test failed; the message is what the student reads."""


@dataclass(frozen=True)
class GradedTest:
    grade_id: str
    probes: tuple  # probes (dicts), or functions of a grading.protocol.probes.Fresh that make one or a list of them
    check: Callable = field(compare=False)  # check(evidence) -> str | None, raises Failed

    def probes_for(self, fresh) -> list[dict]:
        """The probes of this test in the grading whose fresh choices are ``fresh``."""
        found = []
        for probe in self.probes:
            made = probe(fresh) if callable(probe) else probe
            found += made if isinstance(made, list) else [made]
        return found


def graded_test(tests: dict, grade_id: str, *probes):
    """Decorator: register ``check`` as the graded test ``grade_id`` in ``tests``; each of
    ``probes`` is a probe, or a function that makes one or a list of them from the grading's
    :class:`grading.protocol.probes.Fresh` (inputs new at every grading; the check makes them again from
    ``evidence.fresh``)."""
    def register(check: Callable) -> Callable:
        tests[grade_id] = GradedTest(grade_id, tuple(probes), check)
        return check
    return register


def is_test(cell) -> bool:
    """An autograded test: a grade cell of code that is no solution (its verdict comes from here)."""
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution", False)


def graded_tests(notebook: str) -> dict[str, GradedTest]:
    """The graded tests of ``notebook`` (e.g. ``part2_mlp``) by grade id; none for an unknown one."""
    if notebook not in PARTS:
        return {}
    return importlib.import_module(f"grading.checker.{notebook}").TESTS
