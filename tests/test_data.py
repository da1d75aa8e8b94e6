"""The CIFAR-10 loader: same arrays as Keras, every source, every failure mode, the cache."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cifar10_course import data
from conftest import IMAGES_PER_CLASS_PER_BATCH, subprocess_env, write_archive, write_official_layout


def keras_load_data_from(extracted_root: Path):
    """Run Keras's own ``cifar10.load_data()`` on a full local folder instead of its download.

    The download itself cannot run offline, so only ``get_file`` is replaced: Keras's reading,
    stacking, reshaping and transposing all run as they do for real. (It insists on 10,000
    images per batch, so it cannot read the small fixtures.)
    """
    keras_cifar10 = _keras_cifar10_module()

    original = keras_cifar10.get_file
    keras_cifar10.get_file = lambda *args, **kwargs: str(extracted_root)
    try:
        return keras_cifar10.load_data()
    finally:
        keras_cifar10.get_file = original


def _keras_cifar10_module():
    from cifar10_course.environment import quiet_tensorflow

    quiet_tensorflow()
    from keras.src.datasets import cifar10 as keras_cifar10

    return keras_cifar10


def keras_read_small_folder(folder: Path):
    """What Keras's ``load_data()`` makes of a folder, batch by batch, for batches of any size.

    Each batch is parsed by Keras's own ``load_batch``; the stacking, reshape to ``(N, 1)`` and
    channels-last transpose follow ``keras/src/datasets/cifar10.py`` line by line.
    """
    load_batch = _keras_cifar10_module().load_batch
    train = [load_batch(str(folder / name)) for name in data.TRAIN_BATCHES]
    x_train = np.concatenate([x for x, _ in train]).astype("uint8")
    y_train = np.concatenate([np.asarray(y, dtype="uint8") for _, y in train])
    x_test, y_test = load_batch(str(folder / data.TEST_BATCH))
    x_train = x_train.transpose(0, 2, 3, 1)
    x_test = x_test.transpose(0, 2, 3, 1).astype(x_train.dtype)
    y_train = y_train.reshape(len(y_train), 1)
    y_test = np.reshape(y_test, (len(y_test), 1)).astype(y_train.dtype)
    return (x_train, y_train), (x_test, y_test)


def assert_same_as_keras(ours, keras_arrays):
    for mine, theirs in zip((*ours[0], *ours[1]), (*keras_arrays[0], *keras_arrays[1])):
        assert mine.shape == theirs.shape
        assert mine.dtype == theirs.dtype
        np.testing.assert_array_equal(mine, theirs)


# --- Same result as Keras -------------------------------------------------------------------


def test_folder_and_archive_match_keras_load_data(fixture_folder, fixture_archive):
    """Do the archive and the folder give exactly what Keras's reading of them gives?"""
    expected = keras_read_small_folder(fixture_folder)
    assert_same_as_keras(data.load_cifar10_arrays(fixture_folder), expected)
    assert_same_as_keras(data.load_cifar10_arrays(fixture_archive), expected)
    (x_train, y_train), (x_test, y_test) = expected
    assert x_train.shape == (5 * 10 * IMAGES_PER_CLASS_PER_BATCH, 32, 32, 3)
    assert y_test.shape == (10 * IMAGES_PER_CLASS_PER_BATCH, 1)


def test_full_offline_copy_matches_keras_load_data(full_copy):
    """Is the full copy named by CIFAR10_PATH loaded exactly as Keras loads it?"""
    ours = data.load_cifar10_arrays(full_copy)
    (x_train, y_train), (x_test, y_test) = ours
    assert x_train.shape == (50000, 32, 32, 3) and x_train.dtype == np.uint8
    assert y_train.shape == (50000, 1) and y_train.dtype == np.uint8
    assert x_test.shape == (10000, 32, 32, 3) and y_test.shape == (10000, 1)
    assert np.bincount(y_train.ravel()).tolist() == [5000] * 10
    assert np.bincount(y_test.ravel()).tolist() == [1000] * 10
    source = data._resolve_local_source(full_copy, "test")
    folder = source if source.is_dir() else source.with_name(data.BATCH_FOLDER)
    if not folder.is_dir():
        pytest.skip(f"no extracted {data.BATCH_FOLDER} beside {source} for Keras to read")
    assert_same_as_keras(ours, keras_load_data_from(folder.parent))


# --- Where the data is looked for -----------------------------------------------------------


def test_every_form_of_local_path_is_accepted(fixture_folder, fixture_archive, tmp_path):
    """Archive, batch folder, and a folder holding either one all load the same arrays."""
    only_archive = tmp_path / "only-archive"
    only_archive.mkdir()
    shutil.copy(fixture_archive, only_archive / data.ARCHIVE_NAME)
    expected = data.load_cifar10_arrays(fixture_folder)
    for path in (fixture_archive, fixture_folder.parent, only_archive):
        assert_same_as_keras(data.load_cifar10_arrays(path), expected)


def test_path_argument_wins_over_environment_variable(fixture_folder, tmp_path, monkeypatch):
    """Is the explicit argument used even when CIFAR10_PATH points elsewhere?"""
    monkeypatch.setenv(data.PATH_VARIABLE, str(tmp_path / "does-not-exist"))
    (x_train, _), _ = data.load_cifar10_arrays(fixture_folder)
    assert len(x_train) == 50 * IMAGES_PER_CLASS_PER_BATCH


def test_environment_variable_is_used(fixture_archive, monkeypatch):
    monkeypatch.setenv(data.PATH_VARIABLE, str(fixture_archive))
    (x_train, _), _ = data.load_cifar10_arrays()
    assert len(x_train) == 50 * IMAGES_PER_CLASS_PER_BATCH


# --- Failure modes: each message names what was tried and what to do -----------------------


@pytest.mark.slow  # starts processes
def test_offline_without_a_copy_says_what_was_tried(tmp_path):
    """Offline, with no path and no CIFAR10_PATH: does the error list all three sources?"""
    env = subprocess_env(
        CIFAR10_PATH=None, KERAS_HOME=str(tmp_path / "keras-home"), CIFAR10_CACHE_DIR=str(tmp_path / "cache")
    )
    code = (
        "from cifar10_course import data\n"
        "try:\n"
        "    data.load_cifar10_arrays()\n"
        "except data.CIFAR10NotFoundError as error:\n"
        "    print(error)\n"
        "else:\n"
        "    print('LOADED')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    if "LOADED" in result.stdout:
        pytest.skip("this machine reached the internet: the offline failure cannot be shown")
    message = result.stdout
    assert result.returncode == 0, result.stderr
    assert "the path argument: not given" in message
    assert "CIFAR10_PATH environment variable: not set" in message
    assert data.KERAS_ORIGIN in message
    assert "What to do" in message and "CIFAR10_PATH=" in message
    assert not any((tmp_path / "cache").glob("*/source.json")), "a failed load must cache nothing"


@pytest.mark.parametrize("via_variable", [False, True])
def test_missing_path_is_named(tmp_path, monkeypatch, via_variable):
    missing = tmp_path / "nowhere" / data.ARCHIVE_NAME
    if via_variable:
        monkeypatch.setenv(data.PATH_VARIABLE, str(missing))
    with pytest.raises(data.CIFAR10NotFoundError) as caught:
        data.load_cifar10_arrays(None if via_variable else missing)
    message = str(caught.value)
    assert str(missing) in message
    assert ("CIFAR10_PATH environment variable" if via_variable else "path argument") in message
    assert "What to do" in message


def test_folder_without_cifar_is_explained(tmp_path):
    (tmp_path / "notes.txt").write_text("not CIFAR")
    with pytest.raises(data.CIFAR10NotFoundError, match="holds neither CIFAR-10 batch files"):
        data.load_cifar10_arrays(tmp_path)


def _assert_nothing_cached(cache: Path):
    leftovers = list(cache.iterdir()) if cache.exists() else []
    assert leftovers == [], f"a failed load left {leftovers} in the cache"


@pytest.mark.parametrize("keep_fraction", [0.5, 0.02])
def test_truncated_archive_is_reported_and_nothing_cached(fixture_archive, tmp_path, isolated_cache, keep_fraction):
    """Is a cut-off download reported as such, with no half-written cache left behind?"""
    truncated = tmp_path / data.ARCHIVE_NAME
    content = fixture_archive.read_bytes()
    truncated.write_bytes(content[: int(len(content) * keep_fraction)])
    with pytest.raises(data.CIFAR10CorruptError) as caught:
        data.load_cifar10_arrays(truncated)
    message = str(caught.value)
    assert str(truncated) in message and "truncated or corrupt" in message
    assert "What to do" in message
    _assert_nothing_cached(isolated_cache)


def test_corrupt_archive_is_reported(fixture_archive, tmp_path, isolated_cache):
    corrupt = tmp_path / data.ARCHIVE_NAME
    content = bytearray(fixture_archive.read_bytes())
    middle = len(content) // 2
    content[middle:middle + 4096] = os.urandom(4096)
    corrupt.write_bytes(bytes(content))
    with pytest.raises(data.CIFAR10CorruptError, match="truncated or corrupt"):
        data.load_cifar10_arrays(corrupt)
    _assert_nothing_cached(isolated_cache)


def test_a_batch_asking_for_an_impossible_allocation_is_reported(tmp_path):
    """Corrupt bytes can turn into a pickle opcode with an absurd length (a corrupt archive once
    ended in a MemoryError here): reported as corrupt like any other damage."""
    import io
    import struct

    huge = b"\x80\x04" + b"\x8e" + struct.pack("<Q", 2**62) + b"x"  # BINBYTES8 of 4 EiB
    with pytest.raises(data.CIFAR10CorruptError, match="truncated or corrupt"):
        data._read_batch(io.BytesIO(huge), tmp_path / "data_batch_1")


def test_file_that_is_no_archive_is_reported(tmp_path):
    bogus = tmp_path / data.ARCHIVE_NAME
    bogus.write_text("<html>Proxy login required</html>")
    with pytest.raises(data.CIFAR10CorruptError, match="truncated or corrupt"):
        data.load_cifar10_arrays(bogus)


def test_folder_missing_a_batch_names_it(fixture_folder, tmp_path, isolated_cache):
    incomplete = tmp_path / data.BATCH_FOLDER
    shutil.copytree(fixture_folder, incomplete)
    (incomplete / "data_batch_3").unlink()
    with pytest.raises(data.CIFAR10CorruptError) as caught:
        data.load_cifar10_arrays(incomplete)
    message = str(caught.value)
    assert "data_batch_3 is missing" in message and str(incomplete) in message
    assert "What to do" in message
    _assert_nothing_cached(isolated_cache)


def test_archive_missing_a_batch_names_it(fixture_folder, tmp_path):
    incomplete = tmp_path / "incomplete" / data.BATCH_FOLDER
    shutil.copytree(fixture_folder, incomplete)
    (incomplete / "test_batch").unlink()
    archive = write_archive(incomplete, tmp_path / data.ARCHIVE_NAME)
    with pytest.raises(data.CIFAR10CorruptError, match="it lacks test_batch"):
        data.load_cifar10_arrays(archive)


def test_batch_carrying_code_is_refused(fixture_folder, tmp_path):
    """A tampered pickle must not run code on the student's machine."""
    tampered = tmp_path / data.BATCH_FOLDER
    shutil.copytree(fixture_folder, tampered)
    marker = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (tampered / "data_batch_1").write_bytes(pickle.dumps({b"data": Payload()}, protocol=4))
    with pytest.raises(data.CIFAR10CorruptError, match="refusing to load"):
        data.load_cifar10_arrays(tampered)
    assert not marker.exists()


# --- The decoded-array cache ----------------------------------------------------------------


def test_warm_load_reads_the_cache_not_the_source(fixture_archive, monkeypatch, isolated_cache):
    first = data.load_cifar10_arrays(fixture_archive)
    assert len(list(isolated_cache.glob("*/source.json"))) == 1

    def no_decoding(source):
        raise AssertionError("the warm load decoded the source again")

    monkeypatch.setattr(data, "_decode_local", no_decoding)
    assert_same_as_keras(data.load_cifar10_arrays(fixture_archive), first)


def test_replaced_source_is_decoded_again(fixture_folder, tmp_path):
    """A copy replaced in place (new size or time) must not be served from a stale cache."""
    archive = write_archive(fixture_folder, tmp_path / data.ARCHIVE_NAME)
    before = data.load_cifar10_arrays(archive)
    other = write_official_layout(tmp_path / "other", seed=1)
    write_archive(other, archive)
    os.utime(archive, ns=(archive.stat().st_atime_ns, archive.stat().st_mtime_ns + 10**9))
    after = data.load_cifar10_arrays(archive)
    assert not np.array_equal(before[0][0], after[0][0])
    assert_same_as_keras(after, data.load_cifar10_arrays(other))


def test_damaged_cache_is_rebuilt(fixture_archive, isolated_cache):
    first = data.load_cifar10_arrays(fixture_archive)
    (cached,) = isolated_cache.glob("*/x_train.npy")
    cached.write_bytes(cached.read_bytes()[:100])
    assert_same_as_keras(data.load_cifar10_arrays(fixture_archive), first)


# --- Subsets --------------------------------------------------------------------------------


def test_stratified_subset_keeps_every_class(fixture_folder):
    (x_train, y_train), _ = data.load_cifar10_arrays(fixture_folder)
    x_sub, y_sub = data.stratified_subset(x_train, y_train, per_class=3, seed=5)
    assert np.bincount(y_sub.ravel(), minlength=10).tolist() == [3] * 10
    assert y_sub.shape == (30, 1) and x_sub.shape == (30, 32, 32, 3)
    again = data.stratified_subset(x_train, y_train, per_class=3, seed=5)
    np.testing.assert_array_equal(again[0], x_sub)
    other = data.stratified_subset(x_train, y_train, per_class=3, seed=6)
    assert not np.array_equal(other[0], x_sub)
    # Chosen examples keep their original order: each is found at an increasing position.
    positions = [int(np.flatnonzero((x_train == image).all(axis=(1, 2, 3)))[0]) for image in x_sub]
    assert positions == sorted(positions)


def test_stratified_subset_refuses_more_than_exists():
    y = np.array([0, 0, 1, 1, 1])
    with pytest.raises(ValueError, match="only 2 exist"):
        data.stratified_subset(np.zeros((5, 2)), y, per_class=3)


def test_fast_mode_split_of_the_full_copy(full_copy):
    from cifar10_course.modes import MODES

    fast = MODES["fast"]
    (x_train, y_train), (x_test, y_test) = data.load_course_split("fast", path=full_copy)
    assert np.bincount(y_train.ravel()).tolist() == [fast.train_per_class] * 10
    assert np.bincount(y_test.ravel()).tolist() == [fast.test_per_class] * 10
    (x_full, _), _ = data.load_course_split("full", path=full_copy)
    assert len(x_full) == 50000


def test_course_data_is_scaled_and_one_hot(fixture_folder):
    (x_train, y_train), (x_test, y_test) = data.load_course_split("full", path=fixture_folder)
    xtrain, ytrain_1hot, xtest, ytest_1hot = data.load_course_data("full", path=fixture_folder)
    for prepared, raw in ((xtrain, x_train), (xtest, x_test)):
        assert prepared.dtype == np.float32
        np.testing.assert_array_equal(prepared, raw.astype(np.float32) / 255)
    for one_hot, labels in ((ytrain_1hot, y_train), (ytest_1hot, y_test)):
        assert one_hot.dtype == np.float32 and one_hot.shape == (len(labels), 10)
        np.testing.assert_array_equal(one_hot.argmax(axis=1), labels.reshape(-1))
        np.testing.assert_array_equal(one_hot.sum(axis=1), 1)
    test_only = data.load_course_test_data("full", path=fixture_folder)
    np.testing.assert_array_equal(test_only[0], xtest)
    np.testing.assert_array_equal(test_only[1], ytest_1hot)


def test_full_mode_images_are_mapped_from_the_cache_and_a_notebooks_writes_stay_its_own(fixture_folder, isolated_cache):
    """The first full-mode load keeps the scaled images in the cache; later loads map them (no
    conversion, pages shared between kernels) as plain writable arrays that never write back."""
    (x_train, _), (x_test, _) = data.load_cifar10_arrays(fixture_folder)
    first = data.load_course_data("full", path=fixture_folder)
    assert sorted(path.name for path in isolated_cache.glob("*/*_scaled.npy")) == ["x_test_scaled.npy",
                                                                                  "x_train_scaled.npy"]
    mapped = data.load_course_data("full", path=fixture_folder)
    for images, raw in ((mapped[0], x_train), (mapped[2], x_test)):
        assert type(images) is np.ndarray and images.dtype == np.float32 and images.flags.writeable
        assert isinstance(images.base, np.memmap)  # mapped, not converted again
        np.testing.assert_array_equal(images, raw.astype(np.float32) / 255)
    np.testing.assert_array_equal(mapped[0], first[0])
    mapped[0][:] = 7  # a notebook scaling its images again, in place
    np.testing.assert_array_equal(data.load_course_data("full", path=fixture_folder)[0], first[0])


def test_a_damaged_or_unwritable_scaled_cache_still_gives_the_right_images(fixture_folder, isolated_cache, monkeypatch):
    (x_train, _), _ = data.load_cifar10_arrays(fixture_folder)
    data.prepare_cache(fixture_folder)
    (scaled,) = isolated_cache.glob("*/x_train_scaled.npy")
    scaled.write_bytes(scaled.read_bytes()[:200])  # truncated
    np.testing.assert_array_equal(data.load_course_data("full", path=fixture_folder)[0], x_train.astype(np.float32) / 255)
    assert isinstance(data.load_course_data("full", path=fixture_folder)[0].base, np.memmap)  # written again
    scaled.unlink()

    def read_only(*args, **kwargs):  # a hub's shared cache, read-only for students (the tests run as root)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(data.tempfile, "mkstemp", read_only)
    images = data.load_course_data("full", path=fixture_folder)[0]
    np.testing.assert_array_equal(images, x_train.astype(np.float32) / 255)
    assert not scaled.exists() and not list(scaled.parent.glob(".writing-*"))
