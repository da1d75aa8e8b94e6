"""What a graded test asks of the student's kernel: probes, as plain data.

A probe names a student's function and how to call it (see :mod:`grading.protocol.harvest`, which answers
probes inside the kernel). The tests of :mod:`grading.checker` declare the probes they need; the
executor sends them into the kernel after the test's cell and keeps the answers beside the
probes it sent, so the checker always knows what was asked, from the grader's own copy.
"""

from __future__ import annotations

import json
import zlib

import numpy as np

from grading.protocol.codec import encode


class Fresh:
    """The grader's random choices for one grading of one notebook, from a seed the kernel never sees.

    The executor draws the seed when a notebook's grading starts and keeps it in the records; the
    checker makes the same choices again from it. Each choice comes from a stream of its own name,
    so tests that ask for the same thing get the same values. Inputs drawn here are new at every
    grading: a kernel cannot answer them from a table made at an earlier one.
    """

    def __init__(self, seed: int):
        self.seed = int(seed)

    def rng(self, name: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, zlib.crc32(name.encode())])

    def integer(self, name: str) -> int:
        return int(self.rng(name).integers(2**31))


def fresh_value(seed: int, probe: dict) -> int:
    """The fresh number every probe carries (``probe["fresh"]``): the seed of the random weights,
    inputs, samples and challenges the harvest makes for it in the kernel."""
    return Fresh(seed).integer("probe:" + key(probe))


def value(item) -> dict:
    """An argument given as it is."""
    return {"value": encode(item)}


def data(name: str) -> dict:
    """An argument the kernel loads itself: ``train_labels_onehot`` or ``test_labels_onehot``, its
    rows drawn with the probe's fresh number (:func:`grading.harvest.data_rows`: a random half or
    more of them, in order), so that the answer is new at every grading."""
    return {"data": name}


def recorder() -> dict:
    """An argument that stands in for an augmentation model (:class:`grading.harvest.StandInAugment`):
    it adds an offset drawn from the probe's fresh number (:func:`grading.harvest.augment_offset`)
    to every pixel when called with ``training=True``, and half of it otherwise, so that the images
    it returns show how it was called."""
    return {"recorder": True}


def saved_predictions(part: str, build: str, variant: str | None, index: int) -> dict:
    """An argument from :func:`cifar10_course.saved_model_predictions` in the kernel: index 0 the
    true classes of the test images, 1 the classes the saved model predicts."""
    return {"saved_predictions": [part, build, variant, index]}


def call(function: str, *args: dict, keywords: dict | None = None, keep_args: bool = False,
         stand_ins: tuple = ()) -> dict:
    """Call ``function(*args, **keywords)``; ``keep_args`` also returns the array arguments after
    the call (to see whether the function changed them, and what the kernel computed for them).
    ``stand_ins`` names the student's functions that the task's own versions replace during the
    call (:data:`grading.harvest.STAND_INS`): a mistake in one of them costs its own tests only."""
    found = {"kind": "call", "function": function, "args": list(args), "keywords": dict(keywords or {}),
             "keep_args": keep_args}
    if stand_ins:
        found["stand_ins"] = list(stand_ins)
    return found


def model(function: str) -> dict:
    """Call the build function ``function`` (twice) and describe the model it returns: its
    ``to_json()``, and its outputs for random inputs with random weights drawn from the probe's
    fresh number (:func:`grading.harvest.fresh_outputs`), which the checker computes again from the
    description: the description is then that of the model the kernel really built."""
    return {"kind": "model", "function": function}


def training(train: str, build: str, count: int, binary: bool = False, reference: dict | None = None) -> dict:
    """Run ``train(build(), x, y)`` on ``count`` random images (drawn with the probe's fresh
    number) and record what it did; with a ``reference`` :func:`network`, train that one when the
    student's network fails."""
    return {"kind": "training", "train": train, "build": build, "count": count, "binary": binary,
            "reference": reference}


def network(inputs: tuple, layers: list[tuple[str, dict]]) -> dict:
    """A task's own network, as layer names and options after ``keras.Input(shape=inputs)``."""
    return {"input": list(inputs), "layers": [[name, dict(options)] for name, options in layers]}


def saved_files(function: str, challenge: dict) -> dict:
    """Call ``function(model, json_path, weights_path)`` on the ``challenge`` model; return the files."""
    return {"kind": "saved_files", "function": function, "challenge": challenge}


def loaded_model(function: str, challenge: dict) -> dict:
    """Save the ``challenge`` model with Keras and return what ``function(json_path, weights_path)`` loads."""
    return {"kind": "loaded_model", "function": function, "challenge": challenge}


def challenge(inputs: int, layers: list[tuple[int, str | None]]) -> dict:
    """A small Sequential of Dense layers for the saving probes; its weights are drawn from the
    probe's fresh number (:func:`grading.harvest.challenge_model`)."""
    return {"inputs": inputs, "layers": [list(layer) for layer in layers]}


def key(probe: dict) -> str:
    """A probe's identity: two tests asking the same thing share one answer (the fresh number the
    executor adds is not part of it)."""
    return json.dumps({name: item for name, item in probe.items() if name != "fresh"}, sort_keys=True)
