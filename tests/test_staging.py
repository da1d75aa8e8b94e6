"""Staging a submission (grading/staging.py): regular files only, never through a link, within limits."""

from __future__ import annotations

import json
import os
import stat

import nbformat
import pytest

from grading import staging
from grading.staging import StagingLimits


@pytest.fixture
def submission(tmp_path):
    folder = tmp_path / "submitted"
    (folder / "trained_models").mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(), folder / "part1_data.ipynb")
    (folder / "trained_models" / "part2_mlp.weights.h5").write_bytes(b"weights")
    return folder


def test_regular_files_are_copied_and_everything_else_is_refused_with_a_note(tmp_path, submission):
    secret = tmp_path / "gradebook.db"
    secret.write_text("all the grades")
    (submission / "link.db").symlink_to(secret)
    (submission / "zero.bin").symlink_to("/dev/zero")
    (submission / "folder_link").symlink_to(tmp_path)
    os.link(secret, submission / "hard.db")
    os.mkfifo(submission / "pipe")
    (submission / "bad\nname.txt").write_text("x")
    staged = tmp_path / "staged"
    notes = staging.stage(submission, staged)
    assert sorted(str(p.relative_to(staged)) for p in staged.rglob("*")) == [
        "part1_data.ipynb", "trained_models", "trained_models/part2_mlp.weights.h5"]
    assert (staged / "trained_models" / "part2_mlp.weights.h5").read_bytes() == b"weights"
    joined = "\n".join(notes)
    for name in ("link.db", "zero.bin", "folder_link"):
        assert f"{name} was left out: it is a symbolic link" in joined
    assert "hard.db was left out: it is a hard link" in joined and "pipe was left out: it is a FIFO" in joined
    assert "'bad\\nname.txt' was left out: its name is not printable text" in joined
    assert secret.read_text() == "all the grades"


def test_a_device_is_refused(tmp_path, submission):
    try:
        os.mknod(submission / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device needs root")
    notes = staging.stage(submission, tmp_path / "staged")
    assert "null was left out: it is a device, not a regular file; submit the file itself" in notes


def test_sizes_and_counts_are_limited_and_grading_files_come_first(tmp_path, submission):
    junk = submission / "aaa_data"
    junk.mkdir()
    for number in range(10):
        (junk / f"{number}.txt").write_text("x")
    with open(submission / "huge.bin", "wb") as handle:
        handle.truncate(3 * 2**20)  # sparse: never read, its size alone refuses it
    staged = tmp_path / "staged"
    notes = staging.stage(submission, staged, StagingLimits(files=5, file_mb=1))
    assert (staged / "part1_data.ipynb").exists() and (staged / "trained_models" / "part2_mlp.weights.h5").exists()
    assert len(list((staged / "aaa_data").iterdir())) == 3
    assert "huge.bin was left out: it is larger than 1 MB, the most a file like it may have" in notes
    assert "7 files were left out (aaa_data/3.txt, aaa_data/4.txt, aaa_data/5.txt, aaa_data/6.txt, aaa_data/7.txt, ...): " \
           "a submission may hold at most 5 files" in notes


def test_a_missing_or_linked_submission_folder_stages_nothing(tmp_path, submission):
    (tmp_path / "linked").symlink_to(submission)
    (tmp_path / "student_link").symlink_to(tmp_path)  # submitted/<student> itself a link
    for source, reason in ((tmp_path / "linked", "it is a symbolic link"),
                           (tmp_path / "student_link" / "submitted", "it is a symbolic link"),
                           (tmp_path / "nothing", "No such file or directory")):
        staged = tmp_path / f"staged-{source.name}-{reason[:2]}"
        notes = staging.stage(source, staged)
        assert notes == [f"the submission folder could not be read ({reason}): nothing was graded"], source
        assert list(staged.iterdir()) == []


def test_the_fingerprint_follows_content_and_refusals(tmp_path, submission):
    first = staging.fingerprint(submission)
    assert staging.fingerprint(submission) == first
    (submission / "trained_models" / "part2_mlp.weights.h5").write_bytes(b"other weights")
    second = staging.fingerprint(submission)
    assert second != first
    (submission / "link").symlink_to("/dev/zero")
    assert staging.fingerprint(submission) != second
    staged = tmp_path / "staged"
    staging.stage(submission, staged)
    (staged / "note").unlink(missing_ok=True)
    assert staging.fingerprint(staged) != staging.fingerprint(submission)  # the refusal counts in the original


def test_unreadable_notebooks_are_removed_and_named(tmp_path, submission):
    (submission / "part2_mlp.ipynb").write_text('{"cells": [')
    staged = tmp_path / "staged"
    staging.stage(submission, staged)
    notes = staging.unreadable_notebooks(staged, ["part1_data", "part2_mlp", "part3_cnn"])
    assert not (staged / "part2_mlp.ipynb").exists() and (staged / "part1_data.ipynb").exists()
    assert notes[0].startswith("part2_mlp.ipynb is not a readable notebook (NotJSONError")
    assert notes[1] == "part3_cnn.ipynb was not submitted: 0 points for it"


def test_notebooks_that_jupyterlab_opens_are_repaired_not_refused(tmp_path, submission):
    """nbformat's API and jupytext give every cell an id, also in a 4.4 notebook; other tools
    repeat an id, or leave out metadata or outputs. None of these validates as it is."""
    older = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_markdown_cell("hi")])
    older.nbformat_minor = 4
    for cell in older.cells:
        del cell["id"]
    extra = nbformat.v4.new_code_cell("y = 2")  # carries an id
    older.cells.append(extra)
    duplicated = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("a"), nbformat.v4.new_code_cell("b")])
    duplicated.cells[1].id = duplicated.cells[0].id
    for name, notebook in (("part1_data", older), ("part2_mlp", duplicated)):
        (submission / f"{name}.ipynb").write_text(nbformat.writes(notebook, version=nbformat.NO_CONVERT))
    stripped = json.loads((submission / "part2_mlp.ipynb").read_text())
    del stripped["cells"][0]["metadata"], stripped["cells"][1]["outputs"], stripped["metadata"]
    (submission / "part2_mlp.ipynb").write_text(json.dumps(stripped))
    for name in ("part1_data", "part2_mlp"):
        with pytest.raises(nbformat.ValidationError):
            nbformat.validate(nbformat.read(submission / f"{name}.ipynb", as_version=4))
    staged = tmp_path / "staged"
    staging.stage(submission, staged)
    assert staging.unreadable_notebooks(staged, ["part1_data", "part2_mlp"]) == []
    for name, notebook in (("part1_data", older), ("part2_mlp", duplicated)):
        repaired = nbformat.read(staged / f"{name}.ipynb", as_version=4)
        nbformat.validate(repaired)
        assert [cell.source for cell in repaired.cells] == [cell.source for cell in notebook.cells]
    assert len({cell.id for cell in nbformat.read(staged / "part2_mlp.ipynb", as_version=4).cells}) == 2


def test_windows_line_ends_in_cells_become_the_release_s(tmp_path, submission):
    """A notebook saved on Windows (an editor there, or git's autocrlf) holds the same code with
    CRLF line ends: nbgrader would take every locked cell for an edited one."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1\ny = 2"),
                                               nbformat.v4.new_markdown_cell("# Task\nWrite it.")])
    data = json.loads(nbformat.writes(notebook))
    data["cells"][0]["source"] = ["x = 1\r\n", "y = 2"]
    data["cells"][1]["source"] = "# Task\r\nWrite it."
    (submission / "part1_data.ipynb").write_text(json.dumps(data))
    staged = tmp_path / "staged"
    staging.stage(submission, staged)
    assert staging.unreadable_notebooks(staged, ["part1_data"]) == []
    assert [cell.source for cell in nbformat.read(staged / "part1_data.ipynb", as_version=4).cells] == [
        "x = 1\ny = 2", "# Task\nWrite it."]


def test_copies_of_a_cell_and_foreign_nbgrader_metadata_become_the_students_own_cells(tmp_path, submission):
    """JupyterLab's copy and paste keeps a cell's nbgrader metadata; a cell may carry a grade id
    the source has not (or one written to break the formgrader's page), or metadata that is no
    object. The first cell with each known grade id keeps it; every other one loses it."""
    solution = nbformat.v4.new_code_cell("def f():\n    return 1")
    solution.metadata["nbgrader"] = {"grade_id": "f", "solution": True, "grade": False, "locked": False,
                                     "schema_version": 3}
    pasted = nbformat.v4.new_code_cell(solution.source)
    pasted.metadata["nbgrader"] = dict(solution.metadata["nbgrader"])
    hostile = nbformat.v4.new_markdown_cell("notes")
    hostile.metadata["nbgrader"] = {**solution.metadata["nbgrader"], "grade_id": 'x" onfocus="alert(1)'}
    number = nbformat.v4.new_code_cell("x = 1")
    number.metadata["nbgrader"] = 1
    notebook = nbformat.v4.new_notebook(cells=[solution, pasted, hostile, number])
    (submission / "part1_data.ipynb").write_text(json.dumps(notebook))
    released = tmp_path / "release"
    released.mkdir()
    (released / "part1_data.ipynb").write_text(json.dumps(nbformat.v4.new_notebook(cells=[solution])))
    staged = tmp_path / "staged"
    staging.stage(submission, staged)
    assert staging.unreadable_notebooks(staged, ["part1_data"], released) == []
    cells = nbformat.read(staged / "part1_data.ipynb", as_version=4).cells
    assert [cell.metadata.get("nbgrader", {}).get("grade_id") for cell in cells] == ["f", None, None, None]
    assert [cell.source for cell in cells] == [cell.source for cell in notebook.cells]


def test_a_notebook_of_millions_of_objects_is_refused_before_it_is_parsed(tmp_path, submission):
    (submission / "part1_data.ipynb").write_text('{"cells": [' + "{}," * 2_100_000 + "{}]}")
    staged = tmp_path / "staged"
    staging.stage(submission, staged)
    (note,) = staging.unreadable_notebooks(staged, ["part1_data"])
    assert "more than 2,000,000 JSON objects" in note and not (staged / "part1_data.ipynb").exists()


def test_deleted_locked_cells_come_back_where_they_sat(tmp_path, submission):
    """nbgrader cannot put back a deleted test that sat right after a locked cell without points
    (the accuracy tests sit after the training cells); staging puts back every test, given cell
    and written answer of the release, after the cell that precedes it there."""
    def cell(grade_id, locked=True, grade=False, solution=False, source=None):
        made = nbformat.v4.new_code_cell(source or f"# {grade_id}")
        made.metadata["nbgrader"] = {"grade_id": grade_id, "locked": locked, "grade": grade, "solution": solution,
                                     "schema_version": 3, **({"points": 1} if grade else {})}
        return made

    release = [cell("setup"), cell("build", locked=False, solution=True), cell("build_test", grade=True),
               cell("train"), cell("accuracy", grade=True), cell("last_test", grade=True)]
    released = tmp_path / "release"
    released.mkdir()
    (released / "part1_data.ipynb").write_text(json.dumps(nbformat.v4.new_notebook(cells=release)))
    mine = nbformat.v4.new_code_cell("# my own cell")
    student = [release[0], release[1], release[2], release[3], mine]  # accuracy and last_test deleted
    (submission / "part1_data.ipynb").write_text(json.dumps(nbformat.v4.new_notebook(cells=student)))
    staged = tmp_path / "staged"
    staging.stage(submission, staged)
    assert staging.unreadable_notebooks(staged, ["part1_data"], released) == []
    restored = nbformat.read(staged / "part1_data.ipynb", as_version=4).cells
    assert [c.metadata.get("nbgrader", {}).get("grade_id", c.source) for c in restored] == [
        "setup", "build", "build_test", "train", "accuracy", "last_test", "# my own cell"]


def test_a_large_notebook_is_slimmed_not_refused(tmp_path, submission):
    import base64

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("plot()")])
    notebook.cells[0].outputs = [nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(
        os.urandom(6 * 2**20)).decode()}) for _ in range(4)] + [nbformat.v4.new_output("stream", name="stdout", text="hi")]
    (submission / "part1_data.ipynb").write_text(json.dumps(notebook))
    staged = tmp_path / "staged"
    assert staging.stage(submission, staged) == []
    (note,) = staging.unreadable_notebooks(staged, ["part1_data"])
    assert note.startswith("part1_data.ipynb is 32 MB: its large outputs")
    outputs = nbformat.read(staged / "part1_data.ipynb", as_version=4).cells[0].outputs
    assert len(outputs) == 5 and outputs[-1].text == "hi" and (staged / "part1_data.ipynb").stat().st_size < 10_000
