"""The instructor's signals (grading/signals.py) on hand-made readings: who submitted an identical
weights file first, and notebooks whose outputs or metadata read oddly."""

from __future__ import annotations

import json

import nbformat

from cifar10_course.accuracy_checks import ACCURACY_MIME
from grading import signals


def test_identical_weights_say_who_submitted_first():
    found = {"demo_a": {"weights": {"w.h5": "same"}, "code": "1", "submitted": "2026-12-02 09:00:00 UTC"},
             "demo_b": {"weights": {"w.h5": "same"}, "code": "2", "submitted": "2026-12-01 18:30:00 UTC"},
             "demo_c": {"weights": {"w.h5": "own"}, "code": "3", "submitted": "2026-12-01 08:00:00 UTC"}}
    shared = signals.shared_weights(found)
    assert shared["demo_b"] == ["w.h5 identical to that of demo_a (different code, this submission came first, at "
                                "2026-12-01 18:30:00 UTC)"]
    assert shared["demo_a"] == ["w.h5 identical to that of demo_b (different code, demo_b submitted it first, at "
                                "2026-12-01 18:30:00 UTC, this one at 2026-12-02 09:00:00 UTC)"]
    assert "demo_c" not in shared and all("; " not in signal for signal in shared["demo_a"] + shared["demo_b"])
    unknown = signals.shared_weights({"x": {"weights": {"w.h5": "d"}}, "y": {"weights": {"w.h5": "d"}}})
    assert unknown["x"] == ["w.h5 identical to that of y (same code, submission times unknown)"]


def test_odd_metadata_and_outputs_are_read_without_raising(tmp_path):
    """What used to stop grading before the old grade was removed: metadata that is no object and
    an accuracy without a number."""
    cell = nbformat.v4.new_code_cell("x")
    cell.metadata["nbgrader"] = 1
    graded = nbformat.v4.new_code_cell("y")
    graded.metadata["nbgrader"] = {"grade_id": "acc", "grade": True}
    graded.outputs = [nbformat.v4.new_output("display_data", data={ACCURACY_MIME: {"accuracy": 0.5, "test_images": ","}}),
                      nbformat.v4.new_output("display_data", data={ACCURACY_MIME: "0.5"}),
                      nbformat.v4.new_output("stream", name="stdout", text="Test accuracy: 0.9 on 1,000 test images"),
                      nbformat.v4.new_output("display_data", data={"text/plain": "Test accuracy: 0.4210 ...",
                                                                   ACCURACY_MIME: {"accuracy": 0.421, "test_images": 1000}})]
    (tmp_path / "part2_mlp.ipynb").write_text(json.dumps(nbformat.v4.new_notebook(cells=[cell, graded])))
    assert signals.shown_accuracies(tmp_path, ["part2_mlp"]) == {"part2_mlp/acc": (0.421, 1000)}
    assert signals.digests(tmp_path, ["part2_mlp"])["weights"] == {}
    assert signals.failed_training(tmp_path, ["part2_mlp"]) == []
