"""Values as JSON-ready data, for every channel between the grader's processes.

Arrays travel as base64 ``.npy`` bytes (never pickles), floats by their ``repr`` (exact), tuples
and lists tagged (JSON has one kind of list), and anything else by the name of its type. The
grader encodes trusted values (a probe's arguments) with :func:`encode` and the kernel decodes
them with :func:`decode`; the kernel's answers come back in the same tags (:mod:`.harvest` adds
sampling and limits), and the checker reads their arrays with :func:`load_array`, which trusts
nothing. The student's kernel runs this module's source before the harvest's
(:data:`grading.execute.INSTALL`), so it imports nothing but the standard library and NumPy.
"""

import base64
import io

import numpy as np

ARRAY, FLOAT, TUPLE, LIST, OBJECT = "__ndarray__", "__float__", "__tuple__", "__list__", "__object__"


def array_text(array) -> str:
    """An array as base64 ``.npy`` bytes."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode()


def encode(value):
    """A trusted value (array, number, string, list, tuple) as JSON-ready data."""
    if isinstance(value, (np.ndarray, np.generic)):
        return {ARRAY: array_text(np.asarray(value))}
    if isinstance(value, float):
        return {FLOAT: repr(value)}
    if isinstance(value, tuple):
        return {TUPLE: [encode(item) for item in value]}
    if isinstance(value, list):
        return {LIST: [encode(item) for item in value]}
    return value


def decode(value):
    """A value :func:`encode` wrote (trusted: the grader's own, so no limits here)."""
    if isinstance(value, dict) and ARRAY in value:
        return np.load(io.BytesIO(base64.b64decode(value[ARRAY])), allow_pickle=False)
    if isinstance(value, dict) and FLOAT in value:
        return float(value[FLOAT])
    if isinstance(value, dict) and LIST in value:
        return [decode(item) for item in value[LIST]]
    if isinstance(value, dict) and TUPLE in value:
        return tuple(decode(item) for item in value[TUPLE])
    return value


def load_array(encoded, max_bytes: int):
    """An untrusted array from base64 ``.npy`` bytes: no pickles, no object arrays, at most
    ``max_bytes`` (checked on the text before it is decoded); ``ValueError`` otherwise."""
    if not isinstance(encoded, str) or len(encoded) > max_bytes * 4 // 3 + 16:
        raise ValueError("too large")
    try:
        array = np.load(io.BytesIO(base64.b64decode(encoded, validate=True)), allow_pickle=False)
    except Exception:
        raise ValueError("unreadable") from None
    if not isinstance(array, np.ndarray) or array.dtype.hasobject or array.nbytes > max_bytes:
        raise ValueError("unreadable")
    return array
