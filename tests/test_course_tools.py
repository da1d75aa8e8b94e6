"""The instructor tools' pure parts: the score table and the clean copy of an assignment."""

from __future__ import annotations

from grading.course import NOTEBOOKS, copy_clean
from grading.demo import score_table
from grading.gradebook import NotebookScore


def test_score_table_totals_and_marks_pending_hand_grading():
    table = score_table({
        "demo_a": {"part1_data": NotebookScore(7, 7, {"x": 7}), "part4_binary": NotebookScore(17, 21, {"x": 17, "essay": None})},
        "demo_b": {"part1_data": NotebookScore(0, 7, {"x": 0})},
    })
    rows = {line.split()[0]: line.split() for line in table.splitlines()[2:] if line.startswith("demo")}
    others = ["-"] * (len(NOTEBOOKS) - 4)  # the notebooks after Part 4
    assert rows["demo_a"] == ["demo_a", "7/7", "-", "-", "17/21*", *others, "24/28"]
    assert rows["demo_b"] == ["demo_b", "0/7", "-", "-", "-", *others, "0/7"]
    assert table.splitlines()[0].split() == ["student", *(f"part{n}" for n in range(1, len(NOTEBOOKS) + 1)), "total"]
    assert "waits for hand-grading" in table


def test_clean_copy_leaves_weights_and_caches_behind(tmp_path):
    source = tmp_path / "source"
    (source / "trained_models").mkdir(parents=True)
    (source / "trained_models" / "part2_mlp.weights.h5").write_bytes(b"w")
    (source / "__pycache__").mkdir()
    (source / "model.keras").write_bytes(b"m")
    (source / "saved_models").mkdir()
    (source / "saved_models" / "deeper.json").write_text("{}")
    (source / "part1_data.ipynb").write_text("{}")
    copied = copy_clean(source, tmp_path / "copy")
    assert sorted(p.name for p in copied.rglob("*")) == ["part1_data.ipynb"]
