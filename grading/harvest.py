"""Runs in the student's kernel after a graded cell: calls the student's functions as the grader's
tests ask, and hands back what they returned, as data. Nothing here decides a score.

:class:`grading.execute.GuardedExecute` sends this file's source into the kernel with each
request (a silent execution: it leaves no trace in the notebook, its outputs or its history) and
reads the answer from the execute reply: :func:`run` returns one string, the JSON of a list with
one entry per probe. Everything in it is untrusted: the notebook could have replaced any function
used here, so the checker (:mod:`grading.checker`, another process) validates every value and
decides from data it loads itself. A probe the notebook interferes with can only fail.

Probes (built in :mod:`grading.probes`):

- ``call``: call a student's function with given arguments and return its result (or its
  exception); arrays larger than ``whole_bytes`` come back as a sample of rows chosen by the
  grader's seed, with their full shape;
- ``model``: call a build function twice; return the first model's ``to_json()``, whether it was
  compiled, and whether the second call built a new model;
- ``training``: run a training function on a small random sample through
  :func:`cifar10_course.record_training` and return :func:`cifar10_course.checks.training_record`;
- ``saved_files``: give a save function a model the grader chose and return the files it wrote;
- ``loaded_model``: write a model the grader chose to files and return what a load function reads
  back from them.
"""

import base64
import io
import json
import os
import tempfile

STRING_LIMIT = 20_000
ITEM_LIMIT = 100_000


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
    recorder = None
    args = []
    for spec in probe["args"]:
        value = _argument(spec, user_ns)
        if "recorder" in spec:
            recorder = value
        args.append(value)
    keywords = {name: _argument(spec, user_ns) for name, spec in probe["keywords"].items()}
    result = function(*args, **keywords)
    answer = {"result": encode(result, request)}
    if probe.get("keep_args"):
        answer["args_after"] = [encode(arg, request) if isinstance(arg, np.ndarray) else None for arg in args]
    if recorder is not None:
        answer["recorder_flags"] = [encode(flag, request) for flag in recorder.training_flags[:100]]
    return answer


def _argument(spec, user_ns):
    import cifar10_course as course

    if "value" in spec:
        return decode_plain(spec["value"])
    if "data" in spec:
        (_, y_train), (_, y_test) = course.load_course_split()
        import numpy as np

        labels = {"train_labels_onehot": y_train, "test_labels_onehot": y_test}[spec["data"]]
        return np.eye(10)[labels.reshape(-1)]
    if "recorder" in spec:
        return course.RecordingAugment()
    if "saved_predictions" in spec:
        part, build, variant, index = spec["saved_predictions"]
        return course.saved_model_predictions(part, _function(user_ns, build), variant)[index]
    raise ValueError(f"unknown argument {sorted(spec)}")


def _model(probe, user_ns, request):
    build = _function(user_ns, probe["function"])
    model = build()
    if not hasattr(model, "to_json"):
        return {"type": f"{type(model).__module__}.{type(model).__qualname__}"}
    second = build()
    return {"type": f"{type(model).__module__}.{type(model).__qualname__}", "json": str(model.to_json())[:ITEM_LIMIT * 10],
            "compiled": bool(getattr(model, "compiled", False)), "fresh": second is not model}


def _training(probe, user_ns, request):
    """Train the student's network; when building or training it fails and the probe names the
    task's own network, train that one instead, so that a broken build function does not cost the
    training function's points too (the record says so)."""
    import cifar10_course as course
    from cifar10_course import checks

    train, build = _function(user_ns, probe["train"]), _function(user_ns, probe["build"])
    x, y = course.small_training_sample(probe["count"], binary=probe["binary"])
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


def _challenge(spec):
    """The grader's model for the saving probes: a small Sequential with weights from a seed."""
    import numpy as np

    keras = __import__("cifar10_course").quiet_tensorflow()
    model = keras.Sequential([keras.Input(shape=(spec["inputs"],))]
                             + [keras.layers.Dense(units, activation=activation) for units, activation in spec["layers"]])
    rng = np.random.default_rng(spec["seed"])
    model.set_weights([rng.standard_normal(w.shape).astype("float32") for w in model.get_weights()])
    return model


def _saved_files(probe, user_ns, request):
    save = _function(user_ns, probe["function"])
    model = _challenge(probe["challenge"])
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
    model = _challenge(probe["challenge"])
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


_PROBES = {"call": _call, "model": _model, "training": _training, "saved_files": _saved_files,
           "loaded_model": _loaded_model}


def encode(value, request, depth=0):
    """``value`` as JSON-ready data: arrays as ``.npy`` bytes (sampled above ``whole_bytes``),
    numbers, strings, lists and tuples; anything else by its type's name."""
    import numpy as np

    if depth > 8:
        return {"__object__": "nested too deep"}
    if value is None or isinstance(value, (bool, int, str)):
        return value[:STRING_LIMIT] if isinstance(value, str) else value
    if isinstance(value, float):
        return {"__float__": repr(value)}
    if isinstance(value, (list, tuple)):
        items = [encode(item, request, depth + 1) for item in list(value)[:ITEM_LIMIT]]
        return {"__tuple__": items} if isinstance(value, tuple) else {"__list__": items}
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    if not isinstance(value, (np.ndarray, np.generic)):
        if not (hasattr(value, "__array__") and hasattr(value, "shape")):
            return {"__object__": kind}
        value = np.asarray(value)  # a tensor: compared as NumPy would see it, its type kept
    array = np.asarray(value)
    if array.dtype.hasobject:
        return {"__object__": f"{kind} of Python objects"}
    answer = {"type": kind, "shape": list(array.shape)}
    if array.nbytes > request["whole_bytes"] and array.ndim >= 1:
        rows = sample_rows(len(array), request["sample_rows"], request["seed"])
        array = array[rows]
        answer["sampled"] = True
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    answer["__ndarray__"] = base64.b64encode(buffer.getvalue()).decode()
    return answer


def sample_rows(count, size, seed):
    """The rows of an array of ``count`` rows that a sample holds: the first, the last and
    ``size`` more drawn with the grader's ``seed``, in order. The checker computes the same rows."""
    import numpy as np

    if count <= size + 2:
        return np.arange(count)
    drawn = np.random.default_rng(seed).choice(count, size=size, replace=False)
    return np.unique(np.concatenate([[0, count - 1], drawn]))


def decode_plain(value):
    """A value the grader encoded for a probe's arguments (trusted, so no limits here)."""
    import numpy as np

    if isinstance(value, dict) and "__ndarray__" in value:
        return np.load(io.BytesIO(base64.b64decode(value["__ndarray__"])), allow_pickle=False)
    if isinstance(value, dict) and "__float__" in value:
        return float(value["__float__"])
    if isinstance(value, dict) and "__list__" in value:
        return [decode_plain(item) for item in value["__list__"]]
    if isinstance(value, dict) and "__tuple__" in value:
        return tuple(decode_plain(item) for item in value["__tuple__"])
    return value
