"""Shared fixtures: small CIFAR-10 copies in the official layout, and an isolated array cache."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest

from cifar10_course import data

IMAGES_PER_CLASS_PER_BATCH = 2
# Read once at start-up: the autouse fixture below removes the variable inside each test.
FULL_COPY = os.environ.get(data.PATH_VARIABLE)
FAST = {"COURSE_MODE": "fast", "CIFAR10_PATH": FULL_COPY or ""}  # the kernels' environment in end-to-end tests
# A folder where a developer keeps one run of the solution notebooks between test sessions (about
# 3 minutes each): filled by the first session, copied by the next ones while the source notebooks
# and helpers are unchanged. Unset in CI.
SOLUTION_RUN_VARIABLE = "COURSE_TEST_SOLUTION_RUN"


def max_points(notebook: str) -> dict[str, float]:
    """The points of each grade cell of a source notebook, by grade id: what a full solution earns."""
    import nbformat

    from grading import course

    source = nbformat.read(course.REPO / "source" / course.ASSIGNMENT / f"{notebook}.ipynb", as_version=4)
    return {cell.metadata.nbgrader.grade_id: float(cell.metadata.nbgrader.points) for cell in source.cells
            if cell.metadata.get("nbgrader", {}).get("grade")}


def pytest_collection_modifyitems(items) -> None:
    """The quick tests first, in file order, then the slow ones: a simple mistake shows in the
    first minute of a full run."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is not None)


def unavailable(reason: str) -> None:
    """Skip a test whose prerequisite this machine lacks (``reason`` says which and how to get it);
    in CI (``CI`` set), where tools/run_tests.sh installs every prerequisite, fail instead."""
    assert not os.environ.get("CI"), reason
    pytest.skip(reason)


def require_sandbox() -> None:
    """The grading sandbox must work where CI runs (tools/run_tests.sh installs bubblewrap); elsewhere, skip."""
    from grading.sandbox import problems

    found = problems()
    if found:
        unavailable("the sandbox cannot run here: " + "; ".join(found))


def write_official_layout(root: Path, seed: int = 0) -> Path:
    """Write ``root/cifar-10-batches-py`` the way the official archive holds it; return it.

    Each batch holds ``IMAGES_PER_CLASS_PER_BATCH`` random images of every class, with bytes
    keys like the original. Protocol 4, as Keras's restricted unpickler needs for files written
    by Python 3 (protocol 2 spells bytes through ``_codecs.encode``, which it refuses).
    """
    rng = np.random.default_rng(seed)
    folder = root / data.BATCH_FOLDER
    folder.mkdir(parents=True)
    for number, name in enumerate((*data.TRAIN_BATCHES, data.TEST_BATCH)):
        labels = [int(c) for c in rng.permutation(np.repeat(np.arange(10), IMAGES_PER_CLASS_PER_BATCH))]
        batch = {
            b"batch_label": f"batch {number}".encode(),
            b"labels": labels,
            b"data": rng.integers(0, 256, size=(len(labels), 3072), dtype=np.uint8),
            b"filenames": [f"img_{number}_{i}.png".encode() for i in range(len(labels))],
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=4))
    meta = {b"label_names": [c.encode() for c in data.CLASS_NAMES]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=4))
    return folder


def write_archive(folder: Path, archive: Path) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=data.BATCH_FOLDER)
    return archive


REPO = Path(__file__).resolve().parents[1]
PACKAGE_PARENT = REPO / "source" / "cifar10"


def subprocess_env(**changes: str | None) -> dict:
    """The environment for a child Python that imports the helpers; a value of None unsets."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_PARENT), env.get("PYTHONPATH")]))
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own empty array cache, and no CIFAR10_PATH unless it sets one."""
    cache = tmp_path_factory.mktemp("array-cache")
    monkeypatch.setenv(data.CACHE_VARIABLE, str(cache))
    monkeypatch.delenv(data.PATH_VARIABLE, raising=False)
    return cache


@pytest.fixture(scope="session")
def fixture_folder(tmp_path_factory) -> Path:
    """A small ``cifar-10-batches-py`` folder (do not modify it; copy it first)."""
    return write_official_layout(tmp_path_factory.mktemp("official-folder"))


@pytest.fixture(scope="session")
def fixture_archive(tmp_path_factory, fixture_folder) -> Path:
    """A small ``cifar-10-python.tar.gz`` with the same content as ``fixture_folder``."""
    return write_archive(fixture_folder, tmp_path_factory.mktemp("official-archive") / data.ARCHIVE_NAME)


@pytest.fixture(scope="session")
def full_copy() -> Path:
    """The full offline copy named by CIFAR10_PATH when the session started; skip without one."""
    if not FULL_COPY:
        unavailable("CIFAR10_PATH is not set: no full copy of CIFAR-10 to test on")
    return Path(FULL_COPY)


@pytest.fixture(scope="session")
def solution_run(tmp_path_factory) -> Path:
    """Every solution notebook, run once in fast mode as a student runs them (they train and save
    weights), for the end-to-end grading tests to share. Do not modify it: copy it first
    (``solution_copy``)."""
    if not FULL_COPY:
        unavailable("CIFAR10_PATH is not set: the notebooks need CIFAR-10")
    from grading import course

    folder = tmp_path_factory.mktemp("solution-run") / course.ASSIGNMENT
    kept = os.environ.get(SOLUTION_RUN_VARIABLE)
    source = course.REPO / "source" / course.ASSIGNMENT
    stamp = "".join(hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(source.rglob("*.py*")))
    if kept and (Path(kept) / "stamp").is_file() and (Path(kept) / "stamp").read_text() == stamp:
        shutil.copytree(kept, folder, ignore=shutil.ignore_patterns("stamp"))  # a developer's earlier run (never in CI)
        return folder
    course.copy_clean(source, folder)
    course.execute_notebooks(folder, FAST, workers=2)
    if kept:
        shutil.rmtree(kept, ignore_errors=True)
        shutil.copytree(folder, kept)
        (Path(kept) / "stamp").write_text(stamp)
    return folder


def solution_copy(run: Path, destination: Path, notebooks) -> Path:
    """A copy of ``run`` (the solution_run fixture) with only ``notebooks`` and the models they saved."""
    def left_out(folder: str, names: list[str]) -> list[str]:
        if Path(folder) == run:
            return [name for name in names if (name.endswith(".ipynb") and name[:-len(".ipynb")] not in notebooks)
                    or (name == "saved_models" and "part5_deeper" not in notebooks)]
        if Path(folder) == run / "trained_models":  # part5_deeper_plain.weights.h5 belongs to part5_deeper
            return [name for name in names if not name.startswith(tuple(notebooks))]
        return []

    shutil.copytree(run, destination, ignore=left_out)
    return destination


@contextlib.contextmanager
def formgrader(course: Path, runtime: Path, course_extension: bool = True):
    """nbgrader's formgrader with grading.formgrader (without it: ``course_extension=False``), at
    ``course``, started from the environment's own ``jupyter`` with no environment on PATH (not
    activated, as an instructor may start it); yields a function that calls its API (its ``url``
    attribute: the server's address)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    jupyter = Path(sys.executable).parent / "jupyter"
    env = {**os.environ, "PATH": "/usr/bin:/bin", "JUPYTER_RUNTIME_DIR": str(runtime)}
    server = subprocess.Popen([str(jupyter), "server", "--allow-root", "--no-browser", f"--port={port}",
                               "--IdentityProvider.token=", "--ServerApp.disable_check_xsrf=True",
                               f"--ServerApp.root_dir={course}", "--ServerApp.jpserver_extensions={'grading.formgrader': %s}" % course_extension],
                              cwd=course, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/formgrader/api"

    def call(path: str, method: str = "GET"):
        request = urllib.request.Request(base + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    try:
        for _ in range(120):
            try:
                call("/status")
                break
            except URLError:
                time.sleep(0.5)
        else:
            pytest.fail("the formgrader did not start")
        call.url = f"http://127.0.0.1:{port}"
        yield call
    finally:
        server.terminate()
        server.wait(timeout=30)
