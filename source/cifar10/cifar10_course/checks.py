"""Checks for notebook cells whose failure messages a student can act on.

Each check returns nothing when all is well and raises ``AssertionError`` otherwise, with a message
that says what was expected and what was found, so a failed nbgrader cell explains itself. NumPy
is the only import at module level; the model checks use whatever Keras model they are given.
"""

from __future__ import annotations

import numpy as np


def check_parameter_count(model, expected: int) -> None:
    """Check that ``model`` has ``expected`` parameters; on failure, list them layer by layer.

    The total is summed from ``model.weights`` rather than taken from ``model.count_params()``,
    so redefining ``count_params`` cannot make a wrong model pass.
    """
    found = sum(int(np.prod(weight.shape)) for weight in model.weights)
    if found == expected:
        return
    lines = [
        f"The model should have {expected:,} parameters but has {found:,} "
        f"({found - expected:+,}).",
        f"  {'layer':<24} {'type':<20} {'output shape':<22} {'parameters':>12}",
    ]
    for layer in model.layers:
        count = f"{layer.count_params():,}" if layer.built else "not built"
        lines.append(
            f"  {layer.name:<24} {type(layer).__name__:<20} {_output_shape(layer):<22} {count:>12}"
        )
    lines.append(
        f"Total found: {found:,}; expected: {expected:,}; difference: {found - expected:+,}."
    )
    if found == 0:
        lines.append("The model has no weights yet: give it an input shape, e.g. keras.Input(...).")
    raise AssertionError("\n".join(lines))


def _output_shape(layer) -> str:
    """The layer's output shape, or "" for a layer that has not been called on an input."""
    try:
        return str(tuple(layer.output.shape))
    except (AttributeError, ValueError):  # Keras raises these for layers without an output.
        return ""


def check_array(name: str, array, shape=None, dtype=None, value_range=None) -> None:
    """Check an array's shape, dtype and value range; report every mismatch at once.

    ``shape`` may hold ``None`` for "any size" in a dimension; ``value_range`` is an inclusive
    ``(low, high)``. Something that is not an array (a list, say) fails with a message saying so.
    """
    if not hasattr(array, "shape"):
        kind = type(array).__name__
        raise AssertionError(
            f"{name} should be a NumPy array but is {_article(kind)} {kind} "
            f"(np.asarray({name}) converts it)."
        )
    array = np.asarray(array)  # A tensor or a DataFrame: compare as NumPy would see it.
    problems = []
    if shape is not None:
        shape = tuple(shape)
        if len(array.shape) != len(shape) or any(
            want is not None and want != have for want, have in zip(shape, array.shape)
        ):
            note = " (None means any size)" if None in shape else ""
            problems.append(f"{name} should have shape {shape}{note} but has shape {array.shape}")
    if dtype is not None and array.dtype != np.dtype(dtype):
        problems.append(
            f"{name} should have dtype {np.dtype(dtype)} but has dtype {array.dtype} "
            f"({name}.astype('{np.dtype(dtype)}') converts it)"
        )
    if value_range is not None and array.size:
        low, high = value_range
        smallest, largest = np.min(array), np.max(array)
        if np.isnan(smallest) or np.isnan(largest):
            problems.append(f"{name} should have values between {low} and {high} but holds NaN")
        elif smallest < low or largest > high:
            hint = " (did you forget to divide by 255?)" if high <= 1 < largest <= 255 else ""
            problems.append(
                f"{name} should have values between {low} and {high} but has values between "
                f"{smallest} and {largest}{hint}"
            )
    if problems:
        raise AssertionError("\n".join(problems))


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def check_layer_types(model, expected) -> None:
    """Check that the model's layers have the Keras classes ``expected``, e.g. ``["Dense"]``.

    On failure the message shows both lists and the first position where they differ.
    """
    expected = list(expected)
    found = [type(layer).__name__ for layer in model.layers]
    if found == expected:
        return
    position = next(
        (i for i, (want, have) in enumerate(zip(expected, found)) if want != have),
        min(len(expected), len(found)),
    )
    if position < min(len(expected), len(found)):
        detail = (
            f"layer {position} ('{model.layers[position].name}') should be "
            f"{expected[position]} but is {found[position]}"
        )
    elif len(found) < len(expected):
        detail = f"the model ends there; still expected: {expected[position:]}"
    else:
        detail = f"the model should end there but goes on with {found[position:]}"
    raise AssertionError(
        f"The model's layers should be\n  {expected}\nbut are\n  {found}\n"
        f"First difference at position {position} (counting from 0): {detail}."
    )
