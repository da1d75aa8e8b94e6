"""Runs in the student's kernel after a graded cell: calls the student's functions as the grader's
tests ask, and hands back what they returned, as data. Nothing here decides a score.

:class:`grading.execute.GuardedExecute` installs this file in every kernel it starts, before any
cell of the notebook runs (:func:`install`): the functions here are bound then, in a namespace of
their own, so a notebook that later defines ``exec``, ``json`` or ``np`` changes nothing here.
After each graded cell the executor calls the installed entry point (a silent execution that
leaves no trace in the notebook) with a request; :func:`run` answers with one JSON text, a list of
one entry per probe, which the executor keeps unread (beyond its length) for the checker.
Everything in it is untrusted: the notebook could replace the entry point or any function used
here, so the checker (:mod:`grading.checker`, another process) validates every value and decides
from data it loads itself, on inputs drawn afresh at every grading. A probe the notebook
interferes with can only fail.

Probes (built in :mod:`grading.probes`); each carries a fresh number from the grader
(``probe["fresh"]``) that seeds whatever random inputs it needs:

- ``call``: call a student's function with given arguments and return its result (or its
  exception); arrays larger than ``whole_bytes`` come back as a sample of rows chosen by the
  grader's seed, with their full shape;
- ``model``: call a build function twice; return the first model's ``to_json()``, whether it was
  compiled, whether the second call built a new model, and the model's outputs for random inputs
  with random weights (:func:`fresh_outputs`), which the checker computes again from the description;
- ``training``: run a training function on a small random sample through
  :func:`cifar10_course.record_training` and return :func:`cifar10_course.checks.training_record`;
- ``saved_files``: give a save function a model with random weights and return the files it wrote;
- ``loaded_model``: write a model with random weights to files and return what a load function
  reads back from them.
"""

import base64
import json
import os
import tempfile

if "ARRAY" not in globals():  # imported (by the checker); in the kernel the codec's source ran first here
    from grading.protocol.codec import ARRAY, FLOAT, LIST, OBJECT, TUPLE, array_text, decode

STRING_LIMIT = 20_000
ITEM_LIMIT = 100_000


class Answer:
    """The JSON text of an answer, shown as it is: IPython's plain-text form of it is the text
    itself, without the quotes and escapes of a string's repr, so the executor keeps it unparsed."""

    __slots__ = ("text",)

    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return self.text

    def _repr_pretty_(self, printer, cycle):
        printer.text(self.text)


def install(user_ns):
    """The entry point the executor calls with each request: this module's :func:`run`, bound to
    the notebook's namespace ``user_ns`` (where the student's functions are)."""
    def entry(request_json):
        return Answer(run(request_json, user_ns))
    return entry


def run(request_json, user_ns):
    """Answer the probes of ``request_json`` with the functions in the notebook's ``user_ns``."""
    request = json.loads(request_json)
    answers = []
    for probe in request["probes"]:
        try:
            answers.append({"ok": _PROBES[probe["kind"]](probe, user_ns, request)})
        except BaseException as error:  # a student's exception is an answer too
            if isinstance(error, KeyboardInterrupt):
                answers.append({"error": ["Interrupted", "the call did not finish in time"]})
                break
            answers.append({"error": [type(error).__name__, str(error)[:STRING_LIMIT]]})
    return json.dumps(answers, default=_plain)


def _plain(value):
    """A value of a record that JSON has no type for: a NumPy number as a number, else its text."""
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError):
            pass
    return str(value)[:STRING_LIMIT]


def _function(user_ns, name):
    if name not in user_ns:
        raise NameError(f"name '{name}' is not defined: run the cell that defines it")
    return user_ns[name]


def _call(probe, user_ns, request):
    import numpy as np

    function = _function(user_ns, probe["function"])
    args = [_argument(spec, user_ns, probe["fresh"]) for spec in probe["args"]]
    keywords = {name: _argument(spec, user_ns, probe["fresh"]) for name, spec in probe["keywords"].items()}
    # The task's own versions of the functions this one may call, so that a mistake in one of them
    # is not counted again here; the student's are put back afterwards.
    replaced = {name: user_ns.get(name, _MISSING) for name in probe.get("stand_ins", [])}
    user_ns.update({name: STAND_INS[name] for name in replaced})
    try:
        result = function(*args, **keywords)
    finally:
        for name, original in replaced.items():
            if original is _MISSING:
                user_ns.pop(name, None)
            else:
                user_ns[name] = original
    answer = {"result": encode(result, request)}
    if probe.get("keep_args"):
        answer["args_after"] = [encode(arg, request) if isinstance(arg, np.ndarray) else None for arg in args]
    return answer


def _argument(spec, user_ns, fresh):
    import cifar10_course as course

    if "value" in spec:
        return decode(spec["value"])
    if "data" in spec:
        (_, y_train), (_, y_test) = course.load_course_split()
        import numpy as np

        labels = {"train_labels_onehot": y_train, "test_labels_onehot": y_test}[spec["data"]].reshape(-1)
        return np.eye(10)[labels[data_rows(len(labels), fresh)]]
    if "recorder" in spec:
        return StandInAugment(augment_offset(fresh))
    if "saved_predictions" in spec:
        part, build, variant, index = spec["saved_predictions"]
        return course.saved_model_predictions(part, _function(user_ns, build), variant)[index]
    raise ValueError(f"unknown argument {sorted(spec)}")


class StandInAugment:
    """Stands in for an augmentation model: adds ``offset`` to every pixel when called with
    ``training=True`` and half of it otherwise, so that the images show how it was called."""

    def __init__(self, offset):
        self.offset = offset

    def __call__(self, images, training=False):
        import numpy as np

        keras = __import__("cifar10_course").quiet_tensorflow()
        added = self.offset if training is True else self.offset / 2
        return keras.ops.convert_to_tensor(np.asarray(images, dtype="float32") + added)


def _model(probe, user_ns, request):
    build = _function(user_ns, probe["function"])
    model = build()
    kind = f"{type(model).__module__}.{type(model).__qualname__}"
    if not hasattr(model, "to_json"):
        return {"type": kind}
    answer = {"type": kind, "json": str(model.to_json())[:ITEM_LIMIT * 10],
              "compiled": bool(getattr(model, "compiled", False))}
    answer["fresh"] = build() is not model
    try:
        answer["outputs"] = encode(fresh_outputs(model, probe["fresh"]), request)
    except Exception as error:
        answer["outputs_error"] = f"{type(error).__name__}: {str(error)[:300]}"
    return answer


FRESH_IMAGES = 4  # random inputs a model answers for the checker


def fresh_weights(model, fresh):
    """Give ``model`` random weights drawn from ``fresh`` (the same in the kernel and the
    checker for the same architecture): each float weight uniform within 1/sqrt(fan-in), and a
    variance between 0.5 and 1.5; other variables (seed states) are left as they are."""
    import numpy as np

    rng = np.random.default_rng(fresh)
    values = []
    for variable, current in zip(model.weights, model.get_weights()):
        if not np.issubdtype(current.dtype, np.floating):
            values.append(current)
        elif "variance" in str(getattr(variable, "name", "")):
            values.append(rng.uniform(0.5, 1.5, current.shape).astype(current.dtype))
        else:
            scale = 1 / np.sqrt(max(1, int(np.prod(current.shape[:-1]))))
            values.append((rng.uniform(-1, 1, current.shape) * scale).astype(current.dtype))
    model.set_weights(values)


def fresh_inputs(shape, fresh):
    """:data:`FRESH_IMAGES` random inputs of a model's input ``shape`` (its first axis open), drawn from ``fresh``."""
    import numpy as np

    sizes = [FRESH_IMAGES] + [int(size) for size in tuple(shape)[1:]]
    return np.random.default_rng(fresh + 1).random(sizes, dtype=np.float32)


IMAGES = (None, 32, 32, 3)  # the input of a model that declares none (built here before its weights are drawn)


def fresh_outputs(model, fresh):
    """What ``model`` answers, when predicting, for random inputs with random weights (both from ``fresh``)."""
    import numpy as np

    try:
        shape = model.input_shape
    except Exception:  # a Sequential without keras.Input, such as an augmentation model
        shape = IMAGES
        model.build(shape)
    fresh_weights(model, fresh)
    return np.asarray(model(fresh_inputs(shape, fresh), training=False))


def _training(probe, user_ns, request):
    """Train the student's network; when building or training it fails and the probe names the
    task's own network, train that one instead, so that a broken build function does not cost the
    training function's points too (the record says so)."""
    import cifar10_course as course
    from cifar10_course import checks

    train, build = _function(user_ns, probe["train"]), _function(user_ns, probe["build"])
    x, y = course.small_training_sample(probe["count"], binary=probe["binary"], seed=probe["fresh"])
    try:
        model = build()
        checks.check_keras_model(model)
        return checks.training_record(course.record_training(train, model, x, y))
    except Exception as error:
        if not probe.get("reference"):
            raise
        try:
            record = checks.training_record(course.record_training(train, _network(probe["reference"]), x, y))
        except Exception:
            raise error from None
        record["reference_used"] = f"{type(error).__name__}: {str(error)[:300]}"
        return record


REFERENCE_LAYERS = ("Flatten", "Dense", "Conv2D", "MaxPooling2D", "Dropout")


def _network(spec):
    """The task's own network from the grader's description (see :func:`grading.probes.network`)."""
    keras = __import__("cifar10_course").quiet_tensorflow()
    layers = []
    for name, options in spec["layers"]:
        if name not in REFERENCE_LAYERS:
            raise ValueError(f"unknown layer {name}")
        layers.append(getattr(keras.layers, name)(**options))
    return keras.Sequential([keras.Input(shape=tuple(spec["input"])), *layers])


def challenge_model(spec, fresh):
    """The grader's model for the saving probes: a small Sequential with weights drawn from ``fresh``."""
    import numpy as np

    keras = __import__("cifar10_course").quiet_tensorflow()
    model = keras.Sequential([keras.Input(shape=(spec["inputs"],))]
                             + [keras.layers.Dense(units, activation=activation) for units, activation in spec["layers"]])
    rng = np.random.default_rng(fresh)
    model.set_weights([rng.standard_normal(w.shape).astype("float32") for w in model.get_weights()])
    return model


def _saved_files(probe, user_ns, request):
    save = _function(user_ns, probe["function"])
    model = challenge_model(probe["challenge"], probe["fresh"])
    with tempfile.TemporaryDirectory() as folder:
        architecture, weights = os.path.join(folder, "model.json"), os.path.join(folder, "model.weights.h5")
        save(model, architecture, weights)
        answer = {}
        for key, path in (("json", architecture), ("weights", weights)):
            if os.path.isfile(path) and os.path.getsize(path) <= request["file_limit"]:
                with open(path, "rb") as handle:
                    answer[key] = base64.b64encode(handle.read()).decode()
            else:
                answer[key] = None
        return answer


def _loaded_model(probe, user_ns, request):
    load = _function(user_ns, probe["function"])
    model = challenge_model(probe["challenge"], probe["fresh"])
    with tempfile.TemporaryDirectory() as folder:
        architecture, weights = os.path.join(folder, "given.json"), os.path.join(folder, "given.weights.h5")
        with open(architecture, "w") as handle:
            handle.write(model.to_json())
        model.save_weights(weights)
        loaded = load(architecture, weights)
    if not hasattr(loaded, "to_json") or not hasattr(loaded, "get_weights"):
        return {"type": f"{type(loaded).__module__}.{type(loaded).__qualname__}"}
    return {"type": f"{type(loaded).__module__}.{type(loaded).__qualname__}", "json": str(loaded.to_json()),
            "weights": [encode(w, request) for w in loaded.get_weights()[:100]], "same_object": loaded is model}


def task_per_class_recall(y_true, y_pred, num_classes=10):
    """Task 6.1's function as the task defines it, standing in for the student's while their other
    functions are graded (their own version has its own tests)."""
    import numpy as np

    y_true, y_pred = np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)
    return np.array([np.mean(y_pred[y_true == c] == c) if np.any(y_true == c) else np.nan
                     for c in range(int(num_classes))])


STAND_INS = {"per_class_recall": task_per_class_recall}
_MISSING = object()

_PROBES = {"call": _call, "model": _model, "training": _training, "saved_files": _saved_files,
           "loaded_model": _loaded_model}


def encode(value, request, depth=0):
    """``value`` as JSON-ready data: arrays as ``.npy`` bytes (sampled above ``whole_bytes``),
    numbers, strings, lists and tuples; anything else by its type's name."""
    import numpy as np

    if depth > 8:
        return {OBJECT: "nested too deep"}
    if value is None or isinstance(value, (bool, int, str)):
        return value[:STRING_LIMIT] if isinstance(value, str) else value
    if isinstance(value, float):
        return {FLOAT: repr(value)}
    if isinstance(value, (list, tuple)):
        items = [encode(item, request, depth + 1) for item in list(value)[:ITEM_LIMIT]]
        return {TUPLE: items} if isinstance(value, tuple) else {LIST: items}
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    if not isinstance(value, (np.ndarray, np.generic)):
        if not (hasattr(value, "__array__") and hasattr(value, "shape")):
            return {OBJECT: kind}
        value = np.asarray(value)  # a tensor: compared as NumPy would see it, its type kept
    array = np.asarray(value)
    if array.dtype.hasobject:
        return {OBJECT: f"{kind} of Python objects"}
    answer = {"type": kind, "shape": list(array.shape)}
    if array.nbytes > request["whole_bytes"] and array.ndim >= 1:
        rows = sample_rows(len(array), request["sample_rows"], request["seed"])
        array = array[rows]
        answer["sampled"] = True
    answer[ARRAY] = array_text(array)
    return answer


def data_rows(count, fresh):
    """The rows of a data argument of ``count`` rows that a probe with the number ``fresh`` passes
    (:func:`grading.probes.data`): a random half or more of them, in order."""
    import numpy as np

    rng = np.random.default_rng(fresh)
    return np.sort(rng.choice(count, size=int(rng.integers(count // 2, count + 1)) if count else 0, replace=False))


def augment_offset(fresh):
    """What :class:`StandInAugment` adds while training, for a probe with the number ``fresh``."""
    return float(1000 + fresh % 1000)


def sample_rows(count, size, seed):
    """The rows of an array of ``count`` rows that a sample holds: the first, the last and
    ``size`` more drawn with the grader's ``seed``, in order. The checker computes the same rows."""
    import numpy as np

    if count <= size + 2:
        return np.arange(count)
    drawn = np.random.default_rng(seed).choice(count, size=size, replace=False)
    return np.unique(np.concatenate([[0, count - 1], drawn]))
