"""Keep TensorFlow quiet, and report what the notebook runs on.

nbgrader scores a test cell that writes anything to stderr as failed. TensorFlow writes log lines
to stderr from C++ when it is imported and again when it first touches a device, some of them even
with ``TF_CPP_MIN_LOG_LEVEL=3`` ("Could not find cuda drivers", written before absl's logging is
set up). So :func:`quiet_tensorflow` sets the log levels before TensorFlow is imported, then
imports it and initialises its devices with file descriptor 2 pointed at ``/dev/null``: later
cells then have nothing left to log.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import sys

# Read by TensorFlow's C++ runtime when it loads. TF_CPP_MIN_LOG_LEVEL=3 hides INFO, WARNING and
# ERROR lines. TF_ENABLE_ONEDNN_OPTS=1 turns on oneDNN kernels, which TensorFlow leaves off on CPUs
# without AVX-512; they made the Part 3 CNN about 1.24x faster on the course's 2-core machines
# (../shared/docs/nbgrader-notes.md). Users who set either variable keep their choice.
TENSORFLOW_SETTINGS = {"TF_CPP_MIN_LOG_LEVEL": "3", "GRPC_VERBOSITY": "ERROR", "TF_ENABLE_ONEDNN_OPTS": "1"}

NO_GPU_WARNING = (
    "WARNING: no GPU found, training will be slow. Full-length training of the convolutional "
    "networks takes minutes per epoch on a CPU; COURSE_MODE=fast trains on small subsets."
)


def set_log_levels() -> None:
    """Set TensorFlow's log levels (and oneDNN), unless the user chose their own; imports nothing."""
    for name, value in TENSORFLOW_SETTINGS.items():
        os.environ.setdefault(name, value)


@contextlib.contextmanager
def _stderr_discarded():
    """Send whatever is written to file descriptor 2, C++ included, to /dev/null."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet_tensorflow():
    """Import TensorFlow and Keras without a line on stderr, and return the ``keras`` module.

    Call it before the first ``import keras`` of a notebook. Calling it again is harmless.
    """
    set_log_levels()
    with _stderr_discarded():
        import tensorflow as tf

        tf.config.list_physical_devices()  # Device discovery logs once; let it happen here.
        import keras
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    with contextlib.suppress(ImportError):
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    return keras


def _installed_version(package: str) -> str:
    """The installed version of ``package``, read from its metadata without importing it."""
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment_report(start_tensorflow: bool = True) -> dict:
    """Versions and devices: what a bug report or a slow run needs to know.

    With ``start_tensorflow=False`` (Part 1, which trains nothing) TensorFlow is not imported, which
    saves seconds: its version and Keras's come from the installed packages, and ``gpus`` is None
    (looking for a GPU is TensorFlow's job).
    """
    import matplotlib
    import numpy

    report = {"python": platform.python_version()}
    if start_tensorflow:
        keras = quiet_tensorflow()
        import tensorflow as tf

        report.update(tensorflow=tf.__version__, keras=keras.__version__, keras_backend=keras.backend.backend())
        gpus = [gpu.name for gpu in tf.config.list_physical_devices("GPU")]
    else:
        report.update(tensorflow=_installed_version("tensorflow"), keras=_installed_version("keras"))
        gpus = None
    report.update(numpy=numpy.__version__, matplotlib=matplotlib.__version__, gpus=gpus,
                  course_mode=os.environ.get("COURSE_MODE", "full (default)"))
    return report


def print_environment_report(part: str | None = None, start_tensorflow: bool = True) -> None:
    """Print :func:`environment_report` as a short table, with the expected run time of ``part``
    (e.g. ``"part2_mlp"``) in the current mode; warn (on stdout) when there is no GPU.

    Returns nothing, so that a setup cell ending in this call shows no ``Out[...]``."""
    from .modes import run_time_report

    report = environment_report(start_tensorflow)
    for name, value in report.items():
        if value is None:
            shown = "not looked for here: Parts 2-6 start TensorFlow, which looks for one"
        else:
            shown = (", ".join(value) if isinstance(value, list) else value) or "none"
        print(f"{name:>14}: {shown}")
    if part is not None:
        print(f"{'run time':>14}: {run_time_report(part)}")
    if report["gpus"] == []:
        # stdout, not warnings.warn: stderr would fail an nbgrader cell, and this is no error.
        print(NO_GPU_WARNING)
