"""Checks of arrays: shape, type and range, and differences computed a few rows at a time."""

from __future__ import annotations

import numpy as np

from .base_checks import CheckFailed, article


def largest_difference(found, expected, rows_at_once: int = 5000) -> float:
    """The largest absolute difference between two arrays of the same shape.

    Computed a few thousand rows at a time: ``np.allclose`` on the 50,000 training images builds
    several temporary arrays of 600 MB and takes ten times as long.
    """
    found, expected = np.asarray(found), np.asarray(expected)
    if found.shape != expected.shape:
        raise ValueError(f"Cannot compare shapes {found.shape} and {expected.shape}.")
    common = np.result_type(found, expected, np.float32)  # Never subtract in uint8, which wraps.
    largest = 0.0
    for start in range(0, len(found), rows_at_once):
        rows = slice(start, start + rows_at_once)
        difference = np.abs(np.subtract(found[rows], expected[rows], dtype=common))
        if difference.size:
            chunk_largest = float(np.max(difference))  # NaN if any value is NaN.
            if np.isnan(chunk_largest):
                return float("inf")
            largest = max(largest, chunk_largest)
    return largest


def not_an_array(name: str, kind: str) -> str:
    """What a student reads when ``name`` is a ``kind`` (a list, say) instead of an array."""
    return f"{name} should be a NumPy array but is {article(kind)} {kind} (np.asarray({name}) converts it)."


def check_array(name: str, array, shape=None, dtype=None, value_range=None) -> None:
    """Check an array's shape, dtype and value range; report every mismatch at once.

    ``shape`` may hold ``None`` for "any size" in a dimension; ``value_range`` is an inclusive
    ``(low, high)``. Something that is not an array (a list, say) fails with a message saying so.
    """
    if not hasattr(array, "shape"):
        raise CheckFailed(not_an_array(name, type(array).__name__))
    array = np.asarray(array)  # A tensor or a DataFrame: compare as NumPy would see it.
    problems = array_problems(name, array.shape, array.dtype, array, shape, dtype, value_range)
    if problems:
        raise CheckFailed("\n".join(problems))


def array_problems(name: str, found_shape, found_dtype, values, shape=None, dtype=None, value_range=None) -> list[str]:
    """What :func:`check_array` reports, for an array known by its shape, dtype and ``values``
    (all of its values, or a sample of its rows: the grader's checker sees large arrays that way)."""
    problems = []
    found_shape = tuple(found_shape)
    if shape is not None:
        shape = tuple(shape)
        if len(found_shape) != len(shape) or any(
            want is not None and want != have for want, have in zip(shape, found_shape)
        ):
            note = " (None means any size)" if None in shape else ""
            problems.append(f"{name} should have shape {shape}{note} but has shape {found_shape}")
    if dtype is not None and np.dtype(found_dtype) != np.dtype(dtype):
        problems.append(
            f"{name} should have dtype {np.dtype(dtype)} but has dtype {np.dtype(found_dtype)} "
            f"({name}.astype('{np.dtype(dtype)}') converts it)"
        )
    values = np.asarray(values)
    if value_range is not None and values.size:
        low, high = value_range
        smallest, largest = np.min(values), np.max(values)
        if np.isnan(smallest) or np.isnan(largest):
            problems.append(f"{name} should have values between {low} and {high} but holds NaN")
        elif smallest < low or largest > high:
            hint = " (did you forget to divide by 255?)" if high <= 1 < largest <= 255 else ""
            problems.append(
                f"{name} should have values between {low} and {high} but has values between "
                f"{smallest} and {largest}{hint}"
            )
    return problems
