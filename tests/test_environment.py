"""TensorFlow stays off stderr, and the environment report warns without failing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cifar10_course.modes import RUN_TIMES
from conftest import subprocess_env

TRAIN_A_TINY_MODEL = """
import numpy as np
import keras
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01), loss="categorical_crossentropy",
              metrics=["accuracy"])
model.fit(np.zeros((64, 4)), keras.utils.to_categorical(np.zeros(64), 3), epochs=1, verbose=0)
model.evaluate(np.zeros((8, 4)), keras.utils.to_categorical(np.zeros(8), 3), verbose=0)
model.predict(np.zeros((8, 4)), verbose=0)
print("trained")
"""


def run_python(code: str, **env: str | None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env=subprocess_env(**env),
                          capture_output=True, text=True, timeout=180)


@pytest.mark.slow  # starts processes
def test_quiet_tensorflow_leaves_stderr_empty():
    """Importing, building, training and predicting after quiet_tensorflow() writes no stderr."""
    result = run_python("import cifar10_course\ncifar10_course.quiet_tensorflow()\n" + TRAIN_A_TINY_MODEL,
                        TF_CPP_MIN_LOG_LEVEL=None)
    assert "trained" in result.stdout
    assert result.stderr == "", f"stderr was not empty:\n{result.stderr}"


@pytest.mark.slow  # starts processes
def test_environment_report_warns_on_stdout_without_a_gpu():
    result = run_python("import cifar10_course\nshown = cifar10_course.print_environment_report('part3_cnn')\n"
                        "print('RETURNED', shown)\n"
                        "print('GPUS', len(cifar10_course.environment.environment_report()['gpus']))",
                        COURSE_MODE="full")
    assert result.returncode == 0 and result.stderr == ""
    for field in ("python", "tensorflow", "keras", "numpy", "keras_backend", "gpus"):
        assert f"{field}:" in result.stdout
    times = RUN_TIMES["part3_cnn"]
    assert f"run time: {times['full']} in full mode on a 2-core CPU (fast mode: {times['fast']})" in result.stdout
    assert "RETURNED None" in result.stdout  # a setup cell that ends in the call shows no Out[...]
    if "GPUS 0" in result.stdout:
        assert "no GPU found, training will be slow" in result.stdout


def test_part1_report_leaves_tensorflow_unstarted():
    """Part 1 trains nothing: its report reads versions from the installed packages, in well under
    the seconds that importing TensorFlow takes, and looks for no GPU."""
    result = run_python("import sys, cifar10_course\n"
                        "cifar10_course.print_environment_report('part1_data', start_tensorflow=False)\n"
                        "print('TENSORFLOW IMPORTED', 'tensorflow' in sys.modules)", COURSE_MODE="fast")
    assert result.returncode == 0 and result.stderr == ""
    for field in ("python", "tensorflow", "keras", "numpy", "matplotlib", "course_mode"):
        assert f"{field}:" in result.stdout
    assert "gpus: not looked for here" in result.stdout and "no GPU found" not in result.stdout
    assert f"run time: {RUN_TIMES['part1_data']['fast']} in fast mode" in result.stdout
    assert "TENSORFLOW IMPORTED False" in result.stdout
