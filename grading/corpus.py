"""A corpus of bad submissions of Parts 1 and 2, made from the solution, for tests and benchmarks.

Each :class:`BadSubmission` is what a student might hand in (an endless loop, a memory hog, a fork
bomb, a network request, a snoop into other students' files and the gradebook, a deleted or edited
test, a broken or missing notebook, a flood of output, stderr noise, monkeypatched libraries, a
global that fakes the trained network, bad weights files, Keras 2 code, training on globals), with
the Part 1 and Part 2 scores it must get and a phrase of the message its student sees (in the
graded notebook's outputs or the report's notes). ``tests/test_bad_submissions.py`` grades them
all in one sandboxed run beside the solution; ``benchmarks/bench_parallel.py`` mixes them with
good ones.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat

from grading import course as c

NOTEBOOKS = ("part1_data", "part2_mlp")
FULL = {"part1_data": 7, "part2_mlp": 12}
WEIGHTS = Path("trained_models") / "part2_mlp.weights.h5"


@dataclass
class BadSubmission:
    student: str
    what: str
    make: Callable[[Path, dict], None]  # edits a copy of the solution in place; gets the context
    scores: dict  # notebook -> expected score
    message: str  # a phrase the student sees
    violation: str = ""  # a phrase expected in the report's sandbox_violations


def _notebook(folder: Path, name: str) -> Path:
    return folder / f"{name}.ipynb"


def edit(folder: Path, name: str, grade_id: str, change: Callable[[str], str]) -> None:
    c.edit_cell(_notebook(folder, name), grade_id, change)


def insert_after(folder: Path, name: str, grade_id: str, source: str) -> None:
    """Add a cell of the student's own after the cell ``grade_id`` (nbgrader keeps added cells)."""
    path = _notebook(folder, name)
    notebook = nbformat.read(path, as_version=4)
    index = next(i for i, cell in enumerate(notebook.cells)
                 if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    cell = nbformat.v4.new_code_cell(source)
    if (notebook.nbformat, notebook.nbformat_minor) < (4, 5):
        del cell["id"]  # cell ids came with nbformat 4.5
    notebook.cells.insert(index + 1, cell)
    nbformat.write(notebook, path)


def delete_cell(folder: Path, name: str, grade_id: str) -> None:
    path = _notebook(folder, name)
    notebook = nbformat.read(path, as_version=4)
    notebook.cells = [cell for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("grade_id") != grade_id]
    nbformat.write(notebook, path)


SNOOP = '''
import os
blocked = []
for path in {paths!r}:
    try:
        with open(path, "ab") as handle:
            handle.write(b"overwritten by a student")
        print("WROTE", path)
    except OSError as error:
        blocked.append(type(error).__name__)
print("snooping blocked:", blocked)
print("visible in ../..:", sorted(os.listdir("../..")))
'''

NETWORK = '''
import socket, urllib.request
for attempt in (lambda: socket.create_connection(("127.0.0.1", {port}), timeout=3),
                lambda: urllib.request.urlopen("https://pypi.org/simple/", timeout=3)):
    try:
        attempt()
        print("network: connected")
    except OSError as error:
        print("network blocked:", type(error).__name__)
'''

FAKE_TRAINED = '''
class PerfectModel:
    """Looks each test image up in the test set instead of recognising it."""
    def __init__(self):
        import numpy as np
        (_, _), (x, y) = course.load_course_split()
        self.answers = {image.tobytes(): label for image, label in zip((x / 255).astype("float32"), y.reshape(-1))}
    def predict(self, images, **kwargs):
        import numpy as np
        return np.eye(10)[[self.answers.get(image.tobytes(), 0) for image in images]]

trained.model = PerfectModel()
'''


def _wrong_model_weights(folder: Path, context: dict) -> None:
    """Weights saved from a multilayer network with 50 hidden units instead of 100."""
    import keras

    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(50, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    model.save_weights(folder / WEIGHTS)


def _half_width(source: str) -> str:
    return source.replace("keras.layers.Dense(100, activation=\"relu\")", "keras.layers.Dense(50, activation=\"relu\")")


MONKEYPATCH = '''
import builtins
import numpy as np
keras.Model.count_params = lambda self: 308_310
np.testing.assert_allclose = lambda *args, **kwargs: None
np.testing.assert_array_equal = lambda *args, **kwargs: None
builtins.print = lambda *args, **kwargs: None
'''

CORPUS = [
    BadSubmission("demo_endless_loop", "an endless loop at the top of a solution cell",
                  lambda f, ctx: edit(f, "part1_data", "class_counts", lambda s: "while True:\n    pass\n" + s),
                  {"part1_data": 5, "part2_mlp": 12}, "CellTimeoutError"),
    BadSubmission("demo_memory_hog", "a cell that fills memory until the kernel is killed",
                  lambda f, ctx: insert_after(f, "part1_data", "load_cifar10",
                                              "hog = []\nwhile True:\n    hog.append(bytearray(100_000_000))"),
                  {"part1_data": 2, "part2_mlp": 12}, "it ran out of memory", "memory limit x1"),
    # Forked copies of the kernel may also fill memory and kill it; either way the cells after it
    # (a fresh kernel, if it died) still earn Part 1's points.
    BadSubmission("demo_fork_bomb", "a fork bomb",
                  lambda f, ctx: insert_after(f, "part1_data", "load_cifar10_matches_data",
                                              "import os\nwhile True:\n    os.fork()"),
                  FULL, "", "refused forks"),
    BadSubmission("demo_network", "a network request to the grading machine and to the internet",
                  lambda f, ctx: insert_after(f, "part1_data", "class_counts", NETWORK.format(port=ctx["port"])),
                  FULL, "network blocked: ConnectionRefusedError"),
    BadSubmission("demo_snooper", "reads and overwrites another student's files and the gradebook",
                  lambda f, ctx: insert_after(f, "part1_data", "class_counts", SNOOP.format(paths=ctx["targets"])),
                  FULL, "visible in ../..: ['demo_snooper']"),
    BadSubmission("demo_deleted_test", "a deleted test cell",
                  lambda f, ctx: delete_cell(f, "part1_data", "class_counts_example"),
                  FULL, ""),
    BadSubmission("demo_edited_test", "a visible test edited into `pass`, hiding a bug", lambda f, ctx: c.tamper(f),
                  {"part1_data": 4, "part2_mlp": 12}, "AssertionError"),
    BadSubmission("demo_broken_json", "a notebook that is not valid JSON",
                  lambda f, ctx: _notebook(f, "part2_mlp").write_text('{"cells": ['),
                  {"part1_data": 7, "part2_mlp": 0}, "part2_mlp.ipynb is not a readable notebook (NotJSONError"),
    BadSubmission("demo_missing_notebook", "a missing notebook", lambda f, ctx: _notebook(f, "part2_mlp").unlink(),
                  {"part1_data": 7, "part2_mlp": 0}, "part2_mlp.ipynb was not submitted: 0 points for it"),
    BadSubmission("demo_output_flood", "prints 30 MB of output",
                  lambda f, ctx: insert_after(f, "part1_data", "class_counts",
                                              "for line in range(300_000):\n    print('x' * 100)"),
                  FULL, "output truncated", "output truncated x1"),
    BadSubmission("demo_stderr_noise", "writes to stderr in solution and test cells",
                  lambda f, ctx: edit(f, "part1_data", "class_counts", lambda s: s.replace(
                      "    ### BEGIN SOLUTION\n",
                      "    ### BEGIN SOLUTION\n    import sys, warnings\n    sys.stderr.write('noise\\n')\n"
                      "    warnings.warn('more noise')\n")),
                  FULL, ""),
    BadSubmission("demo_wrong_model", "50 hidden units instead of 100 (the honest version of the next one)",
                  lambda f, ctx: edit(f, "part2_mlp", "build_multilayer_nn", _half_width),
                  {"part1_data": 7, "part2_mlp": 4}, "308,310"),
    BadSubmission("demo_monkeypatch", "the same wrong network, with count_params, np.testing and print replaced",
                  lambda f, ctx: (edit(f, "part2_mlp", "build_multilayer_nn", _half_width),
                                  insert_after(f, "part2_mlp", "build_multilayer_nn", MONKEYPATCH)),
                  {"part1_data": 7, "part2_mlp": 4}, "308,310"),
    BadSubmission("demo_fake_global", "no weights, and a global `trained` whose model looks the answers up",
                  lambda f, ctx: ((f / WEIGHTS).unlink(), insert_after(f, "part2_mlp", "train_part2", FAKE_TRAINED)),
                  {"part1_data": 7, "part2_mlp": 8}, "part2_mlp.weights.h5"),
    BadSubmission("demo_weights_missing", "no weights file", lambda f, ctx: (f / WEIGHTS).unlink(),
                  {"part1_data": 7, "part2_mlp": 8}, "part2_mlp.weights.h5"),
    BadSubmission("demo_weights_corrupt", "a weights file that is not HDF5",
                  lambda f, ctx: (f / WEIGHTS).write_bytes(b"these are not weights" * 1000),
                  {"part1_data": 7, "part2_mlp": 8}, "part2_mlp.weights.h5"),
    BadSubmission("demo_weights_wrong_architecture", "weights of a network with 50 hidden units",
                  _wrong_model_weights, {"part1_data": 7, "part2_mlp": 8}, "part2_mlp.weights.h5"),
    BadSubmission("demo_weights_enormous", "a 150 MB weights file (nbgrader skips files over 100 MB)",
                  lambda f, ctx: _enormous(f / WEIGHTS), {"part1_data": 7, "part2_mlp": 8}, "part2_mlp.weights.h5"),
    BadSubmission("demo_keras2_api", "Keras 2 code: SGD(lr=0.01)",
                  lambda f, ctx: edit(f, "part2_mlp", "train_multilayer_nn",
                                      lambda s: s.replace("SGD(learning_rate=0.01)", "SGD(lr=0.01)")),
                  {"part1_data": 7, "part2_mlp": 8}, "lr"),
    BadSubmission("demo_fits_on_globals", "a training function that fits on the global training set",
                  lambda f, ctx: edit(f, "part2_mlp", "train_multilayer_nn",
                                      lambda s: s.replace("model.fit(xtrain, ytrain,", "model.fit(globals()['xtrain'], globals()['ytrain_1hot'],")),
                  {"part1_data": 7, "part2_mlp": 9}, "arguments"),
]


def _enormous(path: Path) -> None:
    with open(path, "wb") as handle:  # sparse: 150 MB on paper, nothing on disk
        handle.truncate(150 * 2**20)


def make(root: Path, solution: Path, context: dict, corpus=CORPUS) -> dict[str, Path]:
    """A folder per bad submission under ``root``, each a copy of ``solution`` with its fault."""
    folders = {}
    for bad in corpus:
        folder = root / bad.student
        shutil.copytree(solution, folder)
        bad.make(folder, context)
        folders[bad.student] = folder
    return folders
