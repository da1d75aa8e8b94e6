"""Cold and warm load times of the full CIFAR-10 set, beside the cost of Keras's warm load_data().

Usage: CIFAR10_PATH=/path/to/cifar-10-python.tar.gz .venv/bin/python benchmarks/bench_loading.py

Keras's ``cifar10.load_data()`` calls ``get_file(..., extract=True, file_hash=...)`` every time:
it re-hashes the 170 MB archive and extracts it again before reading the batches. Offline, the
locally built archive has another sha256 than the official one, so the Keras side is measured
with ``get_file`` given the local archive's own hash: exactly the work a warm ``load_data()`` does.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

REPEATS = 5


def timed(function, repeats: int) -> list[float]:
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return seconds


def ours(archive: Path, scratch: Path) -> dict[str, list[float]]:
    os.environ["CIFAR10_CACHE_DIR"] = str(scratch / "course-cache")
    from cifar10_course.data import load_cifar10_arrays

    cold = []
    for _ in range(2):  # Cold means no decoded cache: wipe it before each load.
        shutil.rmtree(scratch / "course-cache", ignore_errors=True)
        cold += timed(lambda: load_cifar10_arrays(archive), 1)
    warm = timed(lambda: load_cifar10_arrays(archive), REPEATS)
    return {"ours, cold (decode the archive, write the cache)": cold, "ours, warm (read the cache)": warm}


def keras_warm(archive: Path, scratch: Path) -> dict[str, list[float]]:
    from cifar10_course.environment import quiet_tensorflow

    quiet_tensorflow()
    from keras.src.datasets import cifar10 as keras_cifar10
    from keras.src.utils.file_utils import get_file

    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    datasets = scratch / "keras-home" / "datasets"
    datasets.mkdir(parents=True)
    os.symlink(archive, datasets / "cifar-10-batches-py-target_archive")  # Where Keras keeps its download.

    def get_local_file(**kwargs):
        kwargs["file_hash"] = digest  # The local copy's own hash, so Keras accepts it as cached.
        return get_file(cache_dir=str(scratch / "keras-home"), **kwargs)

    keras_cifar10.get_file = get_local_file
    keras_cifar10.load_data()  # The first call extracts; every later one re-hashes and re-extracts.
    return {"keras load_data(), warm (hash, extract, read)": timed(keras_cifar10.load_data, REPEATS)}


def main() -> None:
    source = os.environ.get("CIFAR10_PATH")
    if not source or not Path(source).is_file():
        raise SystemExit("Set CIFAR10_PATH to a cifar-10-python.tar.gz (tools/prepare_offline_data.sh builds one).")
    archive = Path(source).resolve()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"archive: {archive} ({archive.stat().st_size / 1e6:.0f} MB)")
    with tempfile.TemporaryDirectory() as scratch:
        results = {**ours(archive, Path(scratch)), **keras_warm(archive, Path(scratch))}
    print(f"\n{'load':<52} {'median s':>9} {'min s':>7} {'max s':>7}  runs")
    for name, seconds in results.items():
        print(f"{name:<52} {statistics.median(seconds):9.3f} {min(seconds):7.3f} {max(seconds):7.3f}  {len(seconds)}")
    warm = statistics.median(results["ours, warm (read the cache)"])
    keras = statistics.median(results["keras load_data(), warm (hash, extract, read)"])
    print(f"\nwarm load: ours {warm:.3f} s vs Keras {keras:.3f} s -> {keras / warm:.0f}x faster "
          f"(goal: ours <= 1 s: {'met' if warm <= 1 else 'NOT met'})")


if __name__ == "__main__":
    main()
