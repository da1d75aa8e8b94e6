"""The grader's pure functions, without kernels or nbgrader: what the end-to-end tests reach only
through a whole grading (report lines, notes, signals, notebook repairs, nbgrader's log records)."""

from __future__ import annotations

import csv
import logging

from nbformat.v4 import new_code_cell, new_markdown_cell

from grading import compat, execute, report, signals, staging, submission
from grading.run_nbgrader import Findings


def test_violations_name_each_limit_a_submission_ran_into_with_its_count():
    events = [{"event": "kernel_death", "notebook": "a", "reason": "it used more than 900 s of CPU time"},
              {"event": "kernel_death", "notebook": "a", "reason": "it ran out of memory"},
              {"event": "output_truncated", "notebook": "a"}, {"event": "output_truncated", "notebook": "b"},
              {"event": "notebook_budget", "notebook": "b"}, {"event": "cell_timeout", "notebook": "b"}]
    found = submission.violations(events, {"memory_kills": 1, "refused_forks": 0, "process_kills": 2})
    assert found == "memory limit x1; process limit x2; CPU time limit x1; output truncated x2; notebook budget x1"
    assert submission.violations([], {}) == ""


def test_the_peak_memory_adds_up_kernels_checker_and_grading_process():
    counters = {"kernels": {"peak_memory_mb": 900}, "checker": {"peak_memory_mb": 300}}
    assert submission.peak_memory(counters, {"peak_memory_mb": 150}) == 1350.0
    assert submission.peak_memory({}, {}) == 0.0


def test_student_notes_say_what_the_cells_outputs_do_not():
    events = [{"event": "kernel_death", "notebook": "part2_mlp", "reason": "it ran out of memory"},
              {"event": "weights_write_refused", "notebook": "part2_mlp", "cell": 3},
              {"event": "weights_write_refused", "notebook": "part2_mlp", "cell": 5}]
    notes = submission.student_notes(events)
    assert notes[0] == "part2_mlp: the kernel died: it ran out of memory"
    assert len(notes) == 2 and "overwrite the trained weights" in notes[1]


def test_the_report_has_a_row_per_submission_and_a_column_per_outcome_field(tmp_path):
    outcomes = [report.Outcome("demo_a", "graded", notes="one\ntwo"), report.Outcome("demo_b", "failed", reason="x")]
    report.write_report(tmp_path / "report.csv", outcomes)
    with open(tmp_path / "report.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["student"], row["status"], row["notes"], row["reason"]) for row in rows] == [
        ("demo_a", "graded", "one\ntwo", ""), ("demo_b", "failed", "", "x")]


def test_signals_compare_the_shown_and_the_measured_accuracy_within_the_settings_thresholds():
    event = {"event": "signals", "notebook": "part2_mlp", "test": "acc", "test_accuracy": 0.45, "test_images": 1000,
             "training_sample_accuracy": 0.42}
    assert signals.from_events([event], {"part2_mlp/acc": (0.46, 1000)}) == []
    found = signals.from_events([event], {"part2_mlp/acc": (0.6, 1000)})
    assert found == ["part2_mlp/acc: test accuracy 0.4500 at grading, 0.6000 in the notebook"]
    assert signals.from_events([event], {"part2_mlp/acc": (0.6, 500)}) == []  # other images: nothing to compare
    assert len(signals.from_events([event], {}, test_margin=0.01)) == 1  # better on test than on training images
    assert signals.restored_cells(["b", "a", "b"]) == ["edited locked cells, restored before grading: a, b"]


def test_nbgraders_log_records_are_read_as_data():
    findings = Findings()
    logger = logging.getLogger("test-nbgrader-findings")
    logger.setLevel(logging.DEBUG)  # as nbgrader's application logger passes its info records
    logger.addHandler(findings)
    try:
        logger.info(compat.CONVERTING_NOTEBOOK, "/x/submitted/s/cifar10/part1_data.ipynb")
        logger.warning(compat.CELL_CHANGED + " (should be: %s, got: %s)", "source", "cell-7", "a", "b")
        try:
            raise ValueError("a notebook nbgrader cannot read")
        except ValueError:
            logger.error("There was an error processing assignment")
        logger.info(compat.CONVERTING_NOTEBOOK, "/x/part2_mlp.ipynb")  # after the error: not the one that failed
    finally:
        logger.removeHandler(findings)
    assert findings.found == {"notebook": "part1_data.ipynb", "error": "ValueError: a notebook nbgrader cannot read",
                              "restored": ["cell-7"]}


def cell(kind: str, source: str, grade_id: str | None = None, **nbgrader) -> dict:
    metadata = {"nbgrader": {"grade_id": grade_id, **nbgrader}} if grade_id else {}
    found = {"cell_type": kind, "metadata": metadata, "source": source, "id": f"id-{grade_id or source[:8]}"}
    if kind == "code":
        found.update(outputs=[], execution_count=None)
    return found


def test_a_pasted_copy_of_a_test_becomes_the_students_own_and_a_deleted_test_comes_back():
    released = [cell("markdown", "intro"), cell("code", "answer", "load", solution=True, grade=False),
                cell("code", "check", "load_test", grade=True, locked=True, points=2),
                cell("code", "second", "second_test", grade=True, locked=True, points=1)]
    submitted = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        cell("markdown", "intro"), cell("code", "my answer", "load", solution=True, grade=False),
        cell("code", "check", "load_test", grade=True, locked=True, points=2),
        {**cell("code", "check", "load_test", grade=True, locked=True, points=2), "id": "pasted"}]}
    assert staging.normalise(submitted, released)
    ids = [c["metadata"].get("nbgrader", {}).get("grade_id") for c in submitted["cells"]]
    assert ids == [None, "load", "load_test", None, "second_test"]  # the copy is the student's; the deleted test is back
    assert len({c["id"] for c in submitted["cells"]}) == 5
    assert not staging.normalise(submitted, released)  # repaired once, nothing more to do


def test_the_phases_of_a_grading_add_up_and_read_back():
    from grading.report import PHASES, phase_seconds, phase_summary, read_phases

    events = [{"event": "phases", "notebook": "part1_data", "seconds": {"kernel starts": 0.5, "test cells": 2.0}},
              {"event": "phases", "notebook": "part1_data", "seconds": {"checker start": 0.4, "checker other": 0.1}},
              {"event": "phases", "notebook": "part2_mlp", "seconds": {"kernel starts": 0.7, "unknown": 9.0}},
              {"event": "kernel_death", "notebook": "part2_mlp"}]
    found = phase_seconds(events, staging_seconds=0.3, nbgrader_seconds=5.0)
    assert list(found) == list(PHASES)
    assert found["kernel starts"] == 1.2 and found["staging"] == 0.3 and found["test cells"] == 2.0
    assert abs(found["nbgrader's own steps"] - (5.0 - 1.2 - 2.0 - 0.5)) < 1e-9  # the rest of the nbgrader process
    summary = phase_summary(found)
    assert summary.startswith("staging 0.3; kernel starts 1.2; test cells 2.0") and "unknown" not in summary
    assert read_phases(summary) == {phase: round(seconds, 1) for phase, seconds in found.items() if seconds >= 0.05}


def test_the_names_a_cell_reads_and_binds_include_functions_and_magics_and_not_locals():
    reads, binds = execute.global_names(
        "%time y = f(xtrain)\n"
        "def g(a):\n    global z\n    local = a + model\n    z = [q for q in local]\n"
        "import os.path\nclass K:\n    pass\n!ls $folder")
    assert reads >= {"f", "xtrain", "model"} and not reads & {"a", "local", "q"}
    assert binds == {"y", "g", "z", "os", "K"}
    assert execute.global_names("%%time\nrun = model.fit(x)") == ({"model", "x", "get_ipython"}, {"run"})
    for unreadable in ("def broken(:", "-" * 100_000 + "1", "x = " + "+".join(["y"] * 20_000)):  # a hostile cell
        assert execute.global_names(unreadable) == (set(), set())


def test_only_names_that_test_cells_alone_bind_make_the_tests_run():
    test = new_code_cell('"""Check"""\nimport numpy as np\nxtrain, counts = load(), 3')
    test.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "t", "points": 1}
    setup, grid = new_code_cell("import numpy as np"), new_code_cell("show(xtrain)")
    helper = new_code_cell("def show(images):\n    return np.mean(images) + counts")
    assert execute.names_only_tests_bind([setup, test, new_markdown_cell("xtrain")]) == set()
    assert execute.names_only_tests_bind([setup, test, grid]) == {"xtrain"}
    assert execute.names_only_tests_bind([helper, setup, test]) == {"counts"}  # a global a function reads later
    assert execute.names_only_tests_bind([test, helper]) == {"np", "counts"}  # after a restart: no set-up cell
    pasted = new_code_cell("x = 1\n" * (execute.READ_SOURCE_CHARACTERS // 6 + 1))  # too much to read in time
    assert execute.names_only_tests_bind([setup, test, pasted]) == {execute.TOO_LARGE_TO_READ}
