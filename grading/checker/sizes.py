"""How big a described model is, worked out from its description before Keras allocates anything.

A description (``model.to_json()``) of a few hundred bytes can ask for billions of parameters, or
for activations of gigabytes per batch of images; building or running such a model would kill the
checker and, with it, the verdicts of every other test. :func:`measure` follows the description
layer by layer, with each layer's own ``compute_output_shape`` (no weights are made), and counts
its parameters, the numbers one image's activations hold at once, and the floating-point
operations one image costs. :func:`check` refuses a model over :data:`LIMITS`, saying by how much
and what to change; :func:`prediction_batch` shrinks the batches for a model whose activations
are large.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from functools import cache

from cifar10_course.acceptance import shorten
from grading.checker import Failed


@dataclass(frozen=True)
class Size:
    parameters: int
    activations: int  # numbers one image's activations hold at once (the largest layer's input and output)
    flops: int  # floating-point operations one image costs


# What the checker rebuilds and measures, far beyond this course's networks (the deeper network of
# Part 5: 1.25 M parameters, 0.06 M activations and 0.04 GFLOP per image).
MAX_PARAMETERS = 60_000_000
MAX_ACTIVATIONS = 16_000_000  # 64 MB of float32 per image
MAX_FLOPS = 1_000_000_000  # per image: about a minute for 10,000 test images on two cores
ACTIVATION_BUDGET_BYTES = 768 * 2**20  # for one batch of predictions
LARGEST_BATCH = 500
# Layers whose weights count: anything else of safe_models.LAYERS has none.
WEIGHTED = {"Dense", "Conv1D", "Conv2D", "Conv2DTranspose", "SeparableConv2D", "DepthwiseConv2D",
            "BatchNormalization", "LayerNormalization", "Normalization"}
MODELS = {"Sequential", "Functional", "Model"}


def measure(config: dict) -> Size:
    """The :class:`Size` of the model described by ``config`` (a checked description, see
    :func:`grading.checker.safe_models.parse`); raises :class:`Failed` when it cannot be followed."""
    _, size = _model(config, None)
    return size


def check(config: dict, what: str) -> Size:
    """The model's :class:`Size`, or :class:`Failed` when it is larger than the grader measures."""
    size = measure(config)
    if size.parameters > MAX_PARAMETERS:
        raise Failed(f"{what} has {size.parameters:,} parameters; the grader measures networks of at most "
                     f"{MAX_PARAMETERS:,}. Use fewer units or filters, or a pooling layer before Flatten.")
    if size.activations > MAX_ACTIVATIONS:
        raise Failed(f"{what} needs {size.activations * 4 / 2**20:,.0f} MB of activations for one image; the grader "
                     f"measures networks of at most {MAX_ACTIVATIONS * 4 / 2**20:,.0f} MB. Use fewer filters, or pool "
                     "earlier.")
    if size.flops > MAX_FLOPS:
        raise Failed(f"{what} costs {size.flops / 1e9:,.1f} GFLOP per image; the grader measures networks of at most "
                     f"{MAX_FLOPS / 1e9:,.1f} GFLOP per image (predicting 10,000 test images would take too long). Use "
                     "fewer filters, or pool earlier.")
    return size


def prediction_batch(size: Size) -> int:
    """Images predicted at once: :data:`LARGEST_BATCH`, fewer for a model with large activations."""
    return max(1, min(LARGEST_BATCH, ACTIVATION_BUDGET_BYTES // max(1, size.activations * 4 * 2)))


_KERAS_IMPORT = threading.Lock()


@cache
def _quiet_keras():
    from cifar10_course.environment import quiet_tensorflow

    return quiet_tensorflow()


def keras():
    """Keras, imported quietly once (the checker's models and size estimates share it). The lock:
    the checker's warm-up may be importing it in another thread, and two quiet imports at once
    would each hide stderr and restore the other's hidden one."""
    with _KERAS_IMPORT:
        return _quiet_keras()


def _layer(config: dict):
    """A layer made from its (checked) description, unbuilt: no weights exist yet."""
    return keras().saving.deserialize_keras_object(config, safe_mode=True)


def _model(config: dict, given: tuple | None) -> tuple[tuple, Size]:
    """The output shape and size of a model description, fed ``given`` (None: its own input)."""
    inner = config.get("config") or {}
    if config.get("class_name") == "Sequential":
        return _sequential(inner, given)
    return _functional(inner, given)


def _sequential(config: dict, given: tuple | None) -> tuple[tuple, Size]:
    layers = list(config.get("layers") or [])
    shape = given
    if layers and layers[0].get("class_name") == "InputLayer":
        first = layers.pop(0)
        shape = _input_shape(first) if given is None else given
    elif given is None:
        shape = _declared_input(config, layers)
    total = Size(0, 0, 0)
    for layer in layers:
        shape, size = _step(layer, [shape])
        total = _add(total, size)
    return shape, total


def _functional(config: dict, given: tuple | None) -> tuple[tuple, Size]:
    """Follow a functional model's layers in the order its description lists them (Keras writes
    them in the order they are called), each node's inputs from earlier nodes."""
    outputs: dict[tuple, tuple] = {}
    total = Size(0, 0, 0)
    counted = set()
    for layer in config.get("layers") or []:
        name = layer.get("name") or (layer.get("config") or {}).get("name")
        if layer.get("class_name") == "InputLayer":
            outputs[(name, 0, 0)] = given if given is not None else _input_shape(layer)
            continue
        for node_index, node in enumerate(layer.get("inbound_nodes") or []):
            inputs = [outputs.get(tuple(history)) for history in _histories(node)]
            if not inputs or any(shape is None for shape in inputs):
                raise Failed("The model's description connects layers in a way the grader cannot follow.")
            shape, size = _step(layer, inputs)
            if name in counted:  # a layer called twice shares its weights
                size = Size(0, size.activations, size.flops)
            counted.add(name)
            outputs[(name, node_index, 0)] = shape
            total = _add(total, size)
    found = [outputs.get(tuple(entry)) for entry in _output_entries(config.get("output_layers"))]
    if len(found) != 1 or found[0] is None:
        raise Failed("The grader measures models with one input and one output.")
    return found[0], total


def _histories(node) -> list:
    """The ``keras_history`` of every tensor a node takes, in order."""
    found = []

    def walk(value):
        if isinstance(value, dict):
            if value.get("class_name") == "__keras_tensor__":
                history = (value.get("config") or {}).get("keras_history")
                if isinstance(history, list) and len(history) == 3:
                    found.append(history)
                return
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(node.get("args") if isinstance(node, dict) else node)
    return found


def _output_entries(value) -> list:
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        return [value]
    return [entry for entry in value or [] if isinstance(entry, list) and len(entry) == 3]


def _input_shape(layer: dict) -> tuple:
    config = layer.get("config") or {}
    shape = config.get("batch_shape") or config.get("batch_input_shape")
    if not isinstance(shape, list) or not shape:
        raise Failed("The model's description has an input without a shape.")
    if any(not isinstance(size, int) or size < 0 for size in shape[1:]):
        raise Failed("The model's input should have a fixed shape, such as keras.Input(shape=(32, 32, 3)).")
    return tuple(shape)


IMAGES = (None, 32, 32, 3)  # what the checker feeds a model that declares no input


def _declared_input(config: dict, layers: list) -> tuple:
    """The input of a Sequential without an InputLayer: Keras 2's ``input_shape`` on its first
    layer, else the course's images (an augmentation model takes its shape when first called)."""
    first = (layers[0].get("config") or {}) if layers else {}
    shape = first.get("batch_input_shape") or first.get("batch_shape") or (
        [None, *first["input_shape"]] if isinstance(first.get("input_shape"), list) else None)
    return tuple(shape) if shape else IMAGES


def _step(layer: dict, inputs: list[tuple]) -> tuple[tuple, Size]:
    """A layer's output shape and size, given its inputs' shapes."""
    name = layer.get("class_name")
    if name in MODELS:
        if len(inputs) != 1:
            raise Failed("The grader measures nested models with one input.")
        return _model(layer, inputs[0])
    for shape in inputs:
        if any(size is not None and (not isinstance(size, int) or size < 0) for size in shape[1:]):
            raise Failed("The model's description holds a shape the grader cannot read.")
    instance = _layer(layer)
    try:
        output = instance.compute_output_shape(inputs[0] if len(inputs) == 1 else list(inputs))
    except Exception as error:
        raise Failed(f"The layer {name} cannot take its input ({type(error).__name__}: {shorten(error, 200)}).") from None
    output = tuple(output)
    if any(size is not None and (not isinstance(size, int) or size < 0) for size in output[1:]):
        raise Failed(f"The layer {name} gives an output the grader cannot measure.")
    parameters, flops = _weights(name, layer.get("config") or {}, inputs[0], output)
    elements = sum(_count(shape) for shape in inputs) + _count(output)
    return output, Size(parameters, elements, flops or _count(output))


def _weights(name: str, config: dict, shape: tuple, output: tuple) -> tuple[int, int]:
    """Parameters and floating-point operations per image of a layer taking ``shape``."""
    if name not in WEIGHTED:
        return 0, 0
    first = config.get("data_format") == "channels_first"
    channels = int(shape[1] if first else shape[-1] or 0)
    bias = 1 if config.get("use_bias", True) else 0
    kernel = math.prod(int(k) for k in _list(config.get("kernel_size", 1)))
    spatial_out = _count(output[2:] if first else output[1:-1])
    if name == "Dense":
        units = int(config.get("units", 0))
        rows = _count(shape[1:-1])  # a Dense on more than a vector applies to each row
        return channels * units + units * bias, 2 * channels * units * max(1, rows)
    if name in ("Conv1D", "Conv2D"):
        filters, groups = int(config.get("filters", 0)), max(1, int(config.get("groups", 1) or 1))
        weights = kernel * (channels // groups) * filters
        return weights + filters * bias, 2 * weights * spatial_out
    if name == "Conv2DTranspose":
        filters = int(config.get("filters", 0))
        weights = kernel * channels * filters
        return weights + filters * bias, 2 * weights * _count(shape[2:] if first else shape[1:-1])
    multiplier = int(config.get("depth_multiplier", 1) or 1)
    if name == "SeparableConv2D":
        filters = int(config.get("filters", 0))
        depthwise, pointwise = kernel * channels * multiplier, channels * multiplier * filters
        return depthwise + pointwise + filters * bias, 2 * (depthwise + pointwise) * spatial_out
    if name == "DepthwiseConv2D":
        weights = kernel * channels * multiplier
        return weights + channels * multiplier * bias, 2 * weights * spatial_out
    axis = config.get("axis", -1)
    axis = axis[0] if isinstance(axis, list) and axis else axis
    size = int(shape[axis] or 0) if isinstance(axis, int) and -len(shape) <= axis < len(shape) else channels
    if name == "BatchNormalization":
        return size * (2 + bool(config.get("center", True)) + bool(config.get("scale", True))), 0
    if name == "LayerNormalization":
        return size * (bool(config.get("center", True)) + bool(config.get("scale", True))), 0
    return 2 * size + 1, 0  # Normalization: a mean and a variance per feature, and a count


def _list(value) -> list:
    if isinstance(value, dict) and value.get("class_name") == "__tuple__":
        value = (value.get("config") or {}).get("value")
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _count(shape) -> int:
    return math.prod(int(size or 1) for size in shape)


def _add(total: Size, size: Size) -> Size:
    return Size(total.parameters + size.parameters, max(total.activations, size.activations), total.flops + size.flops)
