"""Held-out evidence that ordinary notebook edits lose no points (issue 21's "Done when").

Usage: CIFAR10_PATH=... .venv/bin/python benchmarks/held_out_edits.py [--solution-run FOLDER]

The corpus of CI (tests/corpus.py, FAIR) holds the cases the grader was fixed for; this script
grades edits it was not written against: what JupyterLab, VS Code, Colab and jupytext do to a
notebook, and what students do to theirs (moved, deleted and pasted cells, cells of their own,
outputs, a notebook never run again). Each is the solution of Parts 1 and 2, run once in fast mode
as a student runs it, then edited; every one of them should score 19 of 19 and raise no signal
beyond identical weights (each holds the solution's weights file); the script prints each score
beside that, with the notes the student would read and any other signal. Sandboxed, 2 workers, fast mode:
about 3 minutes here for the solution's run and 2 for the grading.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import shutil
import tempfile
from pathlib import Path

from grading import course as c
from grading import gradebook, parallel

NOTEBOOKS = ("part1_data", "part2_mlp")
FULL = {"part1_data": 7, "part2_mlp": 12}


def _read(folder: Path, name: str) -> dict:
    return json.loads((folder / f"{name}.ipynb").read_text())


def _write(folder: Path, name: str, notebook: dict, **dump) -> None:
    (folder / f"{name}.ipynb").write_text(json.dumps(notebook, **dump))


def _index(notebook: dict, grade_id: str) -> int:
    return next(i for i, cell in enumerate(notebook["cells"])
                if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)


def _code(source: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "id": os.urandom(4).hex(), "metadata": {},
            "outputs": [], "source": source}


def vs_code(folder: Path) -> None:
    """VS Code's Jupyter extension: its own notebook metadata, ids on every cell, sources as one string."""
    for name in NOTEBOOKS:
        notebook = _read(folder, name)
        notebook["metadata"]["vscode"] = {"interpreter": {"hash": os.urandom(32).hex()}}
        notebook["metadata"]["language_info"]["version"] = "3.11.2"
        for cell in notebook["cells"]:
            cell.setdefault("id", os.urandom(4).hex())
            cell["source"] = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        _write(folder, name, notebook, indent=4)


def colab(folder: Path) -> None:
    """Colab: nbformat 4.0 without cell ids, its ids and output ids in cell metadata, its own
    notebook metadata and kernelspec, a GPU accelerator."""
    for name in NOTEBOOKS:
        notebook = _read(folder, name)
        notebook["nbformat_minor"] = 0
        notebook["metadata"] = {"colab": {"provenance": [], "gpuType": "T4"}, "accelerator": "GPU",
                                "kernelspec": {"name": "python3", "display_name": "Python 3"},
                                "language_info": {"name": "python"}}
        for cell in notebook["cells"]:
            cell.pop("id", None)
            cell["metadata"]["id"] = os.urandom(6).hex()
            if cell["cell_type"] == "code":
                cell["metadata"]["outputId"] = os.urandom(8).hex()
        _write(folder, name, notebook, indent=2)


def jupytext_paired(folder: Path) -> None:
    """jupytext pairing: its metadata in the notebook and the paired .py script beside it."""
    for name in NOTEBOOKS:
        notebook = _read(folder, name)
        notebook["metadata"]["jupytext"] = {"formats": "ipynb,py:percent"}
        _write(folder, name, notebook, indent=1)
        script = "\n\n".join("# %%\n" + "".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code")
        (folder / f"{name}.py").write_text(script)


def moved_cells(folder: Path) -> None:
    """The training function's cell moved above the build function's (both are defined before use),
    and a markdown cell of the task moved to the end."""
    notebook = _read(folder, "part2_mlp")
    build, train = _index(notebook, "build_multilayer_nn"), _index(notebook, "train_multilayer_nn")
    cell = notebook["cells"].pop(train)
    notebook["cells"].insert(build, cell)
    markdown = next(i for i, cell in enumerate(notebook["cells"]) if cell["cell_type"] == "markdown" and i > 2)
    notebook["cells"].append(notebook["cells"].pop(markdown))
    _write(folder, "part2_mlp", notebook, indent=1)


def deleted_cells(folder: Path) -> None:
    """Every visible test and every markdown cell of Part 1 deleted."""
    notebook = _read(folder, "part1_data")
    notebook["cells"] = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"
                         and not (cell["metadata"].get("nbgrader", {}).get("grade")
                                  and not cell["metadata"]["nbgrader"].get("solution"))]
    _write(folder, "part1_data", notebook, indent=1)


def pasted_cells(folder: Path) -> None:
    """Copy and paste in JupyterLab (the metadata goes with the copy): a solution cell pasted at the
    end with a scratch edit, a test cell and a task's markdown cell pasted twice."""
    notebook = _read(folder, "part2_mlp")
    for grade_id, times in (("multilayer_nn_parameters", 2), ("train_multilayer_nn", 1)):
        index = _index(notebook, grade_id)
        for _ in range(times):
            pasted = copy.deepcopy(notebook["cells"][index])
            pasted["id"] = os.urandom(4).hex()
            notebook["cells"].insert(index + 1, pasted)
    pasted = copy.deepcopy(notebook["cells"][_index(notebook, "build_multilayer_nn")])
    pasted["id"] = os.urandom(4).hex()
    pasted["source"] = "# trying something\n" + "".join(pasted["source"])
    notebook["cells"].append(pasted)
    markdown = next(cell for cell in notebook["cells"][2:] if cell["cell_type"] == "markdown")
    notebook["cells"].insert(3, dict(copy.deepcopy(markdown), id=os.urandom(4).hex()))
    _write(folder, "part2_mlp", notebook, indent=1)


def own_cells(folder: Path) -> None:
    """Cells of the student's own everywhere: notes, scratch code, an import, a plot."""
    for name in NOTEBOOKS:
        notebook = _read(folder, name)
        for position in range(len(notebook["cells"]), 0, -4):
            notebook["cells"].insert(position, _code("import numpy as np\nscratch = np.arange(10)\nscratch.sum()"))
            notebook["cells"].insert(position, {"cell_type": "markdown", "id": os.urandom(4).hex(), "metadata": {},
                                                "source": "My notes: **check** this again."})
        _write(folder, name, notebook, indent=1)


def out_of_order(folder: Path) -> None:
    """Cells run out of order, some twice: execution counts all over the place."""
    for name in NOTEBOOKS:
        notebook = _read(folder, name)
        counts = random.Random(name).sample(range(1, 500), len(notebook["cells"]))
        for cell, count in zip(notebook["cells"], counts):
            if cell["cell_type"] == "code":
                cell["execution_count"] = count
        _write(folder, name, notebook, indent=1)


def never_run_again(folder: Path) -> None:
    """Outputs cleared before submitting (Kernel > Restart and Clear Outputs): the weights stay."""
    for name in NOTEBOOKS:
        notebook = _read(folder, name)
        for cell in notebook["cells"]:
            if cell["cell_type"] == "code":
                cell["outputs"], cell["execution_count"] = [], None
        _write(folder, name, notebook, indent=1)


def big_outputs(folder: Path) -> None:
    """25 MB of printed text and figures in a cell of the student's own."""
    notebook = _read(folder, "part2_mlp")
    cell = _code("for image in x_train[:5000]: print(image.tolist())")
    cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "x" * 15_000_000},
                       {"output_type": "display_data", "metadata": {},
                        "data": {"image/png": os.urandom(7_500_000).hex()[:10_000_000], "text/plain": "<Figure>"}}]
    notebook["cells"].insert(len(notebook["cells"]) // 2, cell)
    _write(folder, "part2_mlp", notebook)


def windows_editor(folder: Path) -> None:
    """A notebook saved on Windows: CRLF line ends in the file and in every cell's source."""
    for name in NOTEBOOKS:
        notebook = _read(folder, name)
        for cell in notebook["cells"]:
            text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cell["source"] = text.replace("\n", "\r\n")
        (folder / f"{name}.ipynb").write_bytes(json.dumps(notebook, indent=1).replace("\n", "\r\n").encode())


def checkpoints_and_caches(folder: Path) -> None:
    """What JupyterLab and Python leave beside the notebooks: checkpoints, caches, a .DS_Store."""
    checkpoints = folder / ".ipynb_checkpoints"
    checkpoints.mkdir(exist_ok=True)
    for name in NOTEBOOKS:
        shutil.copy(folder / f"{name}.ipynb", checkpoints / f"{name}-checkpoint.ipynb")
    (folder / "__pycache__").mkdir(exist_ok=True)
    (folder / "__pycache__" / "helpers.cpython-311.pyc").write_bytes(os.urandom(2000))
    (folder / ".DS_Store").write_bytes(os.urandom(6000))


EDITS = [vs_code, colab, jupytext_paired, moved_cells, deleted_cells, pasted_cells, own_cells, out_of_order,
         never_run_again, big_outputs, windows_editor, checkpoints_and_caches]


def solution_run(scratch: Path, kept: str | None) -> Path:
    if kept:
        return Path(kept)
    folder = c.copy_clean(c.REPO / "source" / c.ASSIGNMENT, scratch / "solution")
    for name in set(c.NOTEBOOKS) - set(NOTEBOOKS):
        (folder / f"{name}.ipynb").unlink()
    print("running the solution of Parts 1 and 2 in fast mode ...", flush=True)
    c.execute_notebooks(folder, {"COURSE_MODE": "fast", "CIFAR10_PATH": os.environ.get("CIFAR10_PATH", "")},
                        names=NOTEBOOKS, workers=2)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solution-run", help="a folder where the solution notebooks have already run in fast mode")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        solution = solution_run(scratch, args.solution_run)
        course = c.new_course(scratch / "course", NOTEBOOKS)
        c.generate_release(course)
        for edit in EDITS:
            folder = scratch / "edits" / edit.__name__
            shutil.copytree(solution, folder, ignore=lambda _, names: [n for n in names if n.endswith(".ipynb")
                                                                       and n[:-6] not in NOTEBOOKS])
            edit(folder)
            c.submit(course, f"demo_{edit.__name__}", folder)
        env = {"COURSE_MODE": "fast", "CIFAR10_PATH": os.environ.get("CIFAR10_PATH", "")}
        outcomes = parallel.grade_all(course, env, workers=2, progress=False)
        scores = gradebook.scores(course)
        print(f"\n{'edit':<24}{'Part 1':>8}{'Part 2':>8}  {'status':<8} notes")
        lost = false_signals = 0
        order = [f"demo_{edit.__name__}" for edit in EDITS]
        for outcome in sorted(outcomes, key=lambda outcome: order.index(outcome.student)):
            got = {name: scores.get(outcome.student, {}).get(name) for name in NOTEBOOKS}
            points = {name: score.score if score else 0 for name, score in got.items()}
            lost += sum(FULL.values()) - sum(points.values())
            # Every edit keeps the solution's weights file, so "identical to" signals are expected;
            # any other signal on these honest submissions is a false alarm.
            own = [found for found in outcome.signals.split("; ") if found and " identical to " not in found]
            false_signals += len(own)
            print(f"{outcome.student[len('demo_'):]:<24}{points['part1_data']:>6g}/7{points['part2_mlp']:>6g}/12  "
                  f"{outcome.status:<8} {'; '.join(filter(None, [outcome.notes or outcome.reason, *own]))}")
        print(f"\n{len(outcomes)} edited submissions, {lost:g} points lost (expected 0), "
              f"{false_signals} signals other than identical weights (expected 0)")


if __name__ == "__main__":
    main()
