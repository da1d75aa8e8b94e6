"""TensorFlow stays off stderr, and the environment report warns without failing."""

from __future__ import annotations

import subprocess
import sys

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


def test_quiet_tensorflow_leaves_stderr_empty():
    """Importing, building, training and predicting after quiet_tensorflow() writes no stderr."""
    result = run_python("import cifar10_course\ncifar10_course.quiet_tensorflow()\n" + TRAIN_A_TINY_MODEL,
                        TF_CPP_MIN_LOG_LEVEL=None)
    assert "trained" in result.stdout
    assert result.stderr == "", f"stderr was not empty:\n{result.stderr}"


def test_environment_report_warns_on_stdout_without_a_gpu():
    result = run_python("import cifar10_course\nr = cifar10_course.print_environment_report()\n"
                        "print('GPUS', len(r['gpus']))")
    assert result.returncode == 0 and result.stderr == ""
    for field in ("python", "tensorflow", "keras", "numpy", "keras_backend"):
        assert f"{field}:" in result.stdout
    if "GPUS 0" in result.stdout:
        assert "no GPU found, training will be slow" in result.stdout
