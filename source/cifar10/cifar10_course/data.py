"""Load CIFAR-10 exactly as ``keras.datasets.cifar10.load_data()`` does, online or offline.

Where the data comes from, in this order:

1. the ``path`` argument of :func:`load_cifar10_arrays`;
2. the ``CIFAR10_PATH`` environment variable;
3. the Keras download (``keras.datasets.cifar10.load_data()``, which needs internet).

A path may name the official ``cifar-10-python.tar.gz``, an extracted ``cifar-10-batches-py``
folder, or a folder that holds either of them. An explicit path (1 or 2) that does not work is an
error: it never silently falls through to a download.

Decoded arrays are cached as ``.npy`` files (see :func:`cache_root`), so a warm load reads about
180 MB from disk instead of re-hashing and re-extracting the archive as Keras does. The cache is
written to a temporary folder and renamed into place, so a failed load never leaves half a cache.

Fast runs use :func:`load_course_split`, which takes subsets with :func:`stratified_subset`:
the one place where subsets are taken.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path

import numpy as np

CLASS_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)
BATCH_FOLDER = "cifar-10-batches-py"
ARCHIVE_NAME = "cifar-10-python.tar.gz"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
KERAS_ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
PATH_VARIABLE = "CIFAR10_PATH"
CACHE_VARIABLE = "CIFAR10_CACHE_DIR"
_ARRAY_NAMES = ("x_train", "y_train", "x_test", "y_test")

HOW_TO_GET_A_COPY = (
    "What to do: get the official cifar-10-python.tar.gz (or its extracted "
    "cifar-10-batches-py folder) onto this machine, then either pass its path, "
    "load_cifar10_arrays('/path/to/cifar-10-python.tar.gz'), or set the environment variable "
    "CIFAR10_PATH=/path/to/cifar-10-python.tar.gz before starting Jupyter. "
    "The README's section 'Using an offline copy of CIFAR-10' shows how."
)


class CIFAR10Error(Exception):
    """Base class of every loading error; its message says what to do."""


class CIFAR10NotFoundError(CIFAR10Error, FileNotFoundError):
    """No source of CIFAR-10 could be used."""


class CIFAR10CorruptError(CIFAR10Error, ValueError):
    """A source exists but its content is truncated, corrupt or incomplete."""


# ---------------------------------------------------------------------------------------------
# Public API


def load_cifar10_arrays(path: str | os.PathLike | None = None):
    """Return ``(x_train, y_train), (x_test, y_test)`` exactly as Keras's ``load_data()``.

    Images are uint8 ``(N, 32, 32, 3)`` (channels last), labels uint8 ``(N, 1)`` with values
    0-9; the full set has 50,000 training and 10,000 test images. See the module docstring for
    where the data is looked for. Raises :class:`CIFAR10NotFoundError` or
    :class:`CIFAR10CorruptError` with a message that names the paths tried and what to do.
    """
    if path is not None:
        return _load_local(Path(path), "the path argument")
    env_path = os.environ.get(PATH_VARIABLE)
    if env_path:
        return _load_local(Path(env_path), f"the {PATH_VARIABLE} environment variable")
    return _load_from_keras()


def stratified_subset(x, y, per_class: int, seed: int = 0):
    """Return ``(x, y)`` restricted to ``per_class`` examples of every class.

    ``y`` holds integer labels, shaped ``(N,)`` or ``(N, 1)``. The chosen examples keep their
    original order, and the same ``seed`` always picks the same ones.
    """
    labels = np.asarray(y).reshape(-1)
    if len(labels) != len(x):
        raise ValueError(f"x has {len(x)} examples but y has {len(labels)} labels.")
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if per_class > len(members):
            raise ValueError(
                f"Asked for {per_class} examples of class {label}, but only {len(members)} exist."
            )
        chosen.append(rng.choice(members, size=per_class, replace=False))
    index = np.sort(np.concatenate(chosen))
    return x[index], y[index]


def load_course_split(mode: str | None = None, path: str | os.PathLike | None = None, seed: int = 0):
    """The data a notebook works on in the current ``COURSE_MODE``, as Keras returns it.

    Full mode: all 50,000 training and 10,000 test images. Fast mode: the stratified subsets
    that :data:`cifar10_course.modes.MODES` sets, the same ones for the same ``seed``.
    """
    from .modes import current_mode

    chosen = current_mode(mode)
    (x_train, y_train), (x_test, y_test) = load_cifar10_arrays(path)
    if chosen.train_per_class is not None:
        x_train, y_train = stratified_subset(x_train, y_train, chosen.train_per_class, seed)
    if chosen.test_per_class is not None:
        x_test, y_test = stratified_subset(x_test, y_test, chosen.test_per_class, seed)
    return (x_train, y_train), (x_test, y_test)


def load_course_data(mode: str | None = None, path: str | os.PathLike | None = None, seed: int = 0):
    """``xtrain, ytrain_1hot, xtest, ytest_1hot`` of the current mode, ready for training.

    Images float32 scaled to [0, 1]; labels one-hot float32 with 10 columns. Parts 2-4 start
    from this, so that none of them depends on the student's Part 1. In full mode the images come
    memory-mapped from the cache (see :func:`_scaled`): writable, but what a notebook writes stays
    in that notebook.
    """
    (x_train, y_train), (x_test, y_test) = load_course_split(mode, path, seed)
    whole = _whole_data_set(mode)
    return (*_ready_for_training(x_train, y_train, "x_train" if whole else None, path),
            *_ready_for_training(x_test, y_test, "x_test" if whole else None, path))


def load_course_test_data(mode: str | None = None, path: str | os.PathLike | None = None, seed: int = 0):
    """``xtest, ytest_1hot`` of :func:`load_course_data`, without preparing the training images.

    The accuracy tests need only these; skipping the 50,000 training images saves a second or
    two in every graded notebook.
    """
    _, (x_test, y_test) = load_course_split(mode, path, seed)
    return _ready_for_training(x_test, y_test, "x_test" if _whole_data_set(mode) else None, path)


def prepare_cache(path: str | os.PathLike | None = None) -> None:
    """Fill the cache for :func:`load_cifar10_arrays` and full-mode :func:`load_course_data`
    (the decoded and the scaled images), for readers that may not write it: a hub's students, a
    grading sandbox's kernels. They then map the scaled images instead of converting 740 MB each."""
    (x_train, y_train), (x_test, y_test) = load_cifar10_arrays(path)
    _ready_for_training(x_train, y_train, "x_train", path)
    _ready_for_training(x_test, y_test, "x_test", path)


def _whole_data_set(mode: str | None) -> bool:
    from .modes import current_mode

    chosen = current_mode(mode)
    return chosen.train_per_class is None and chosen.test_per_class is None


def _ready_for_training(images, labels, cached_as: str | None = None, path=None):
    """Images as float32 in [0, 1], labels one-hot float32 with 10 columns. ``cached_as``: the
    images are the whole data set's ``x_train`` or ``x_test``, kept scaled in the cache."""
    one_hot = np.eye(len(CLASS_NAMES), dtype=np.float32)[labels.reshape(-1)]
    if cached_as is not None:
        return _scaled(images, cached_as, path), one_hot
    return scale_images(images), one_hot


def scale_images(images) -> np.ndarray:
    """uint8 images as float32 in [0, 1], as every network of the course takes them."""
    return np.divide(images, np.float32(255), dtype=np.float32)  # one pass; the same values as astype, then / 255


def _scaled(images, name: str, path) -> np.ndarray:
    """``images`` (the whole data set's ``name``) scaled, memory-mapped copy-on-write from
    ``{name}_scaled.npy`` in the cache: no kernel allocates or converts them, and every kernel
    reading the cache shares the same pages of memory. Written there the first time, where the
    cache may be written; otherwise (or when it cannot be read) converted here."""
    try:
        file = _cache_folder(_fingerprint_of(path)) / f"{name}_scaled.npy"
    except CIFAR10Error:
        return scale_images(images)
    try:
        mapped = np.load(file, mmap_mode="c", allow_pickle=False)
        if mapped.shape == images.shape and mapped.dtype == np.float32:
            return np.asarray(mapped)  # a plain array over the mapping: students see no memmap
    except (OSError, ValueError):
        pass
    scaled = scale_images(images)
    _save_atomically(file, scaled)
    return scaled


def _save_atomically(file: Path, array: np.ndarray) -> None:
    """Save ``array`` as ``file``, renamed into place when complete; nothing where it cannot."""
    try:
        handle, temporary = tempfile.mkstemp(prefix=".writing-", suffix=".npy", dir=file.parent)
    except OSError:
        return  # a read-only cache (a hub's, a sandbox's): the arrays are still good
    try:
        with os.fdopen(handle, "wb") as stream:
            np.save(stream, array, allow_pickle=False)
        os.replace(temporary, file)
    except OSError:
        pass  # the disk is full
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def cache_root() -> Path:
    """Folder of decoded-array caches: ``$CIFAR10_CACHE_DIR``, else ``~/.cache/cifar10_course``."""
    configured = os.environ.get(CACHE_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "cifar10_course"


# ---------------------------------------------------------------------------------------------
# Local copies: archive or batch folder


def _load_local(path: Path, given_by: str):
    source = _resolve_local_source(path, given_by)
    return _cached(_fingerprint(source), lambda: _decode_local(source))


def _fingerprint_of(path) -> dict:
    """The cache's fingerprint of the copy :func:`load_cifar10_arrays` loads for ``path``."""
    if path is not None:
        return _fingerprint(_resolve_local_source(Path(path), "the path argument"))
    env_path = os.environ.get(PATH_VARIABLE)
    if env_path:
        return _fingerprint(_resolve_local_source(Path(env_path), f"the {PATH_VARIABLE} environment variable"))
    return KERAS_FINGERPRINT


def _resolve_local_source(path: Path, given_by: str) -> Path:
    """The archive or batch folder that ``path`` designates."""
    path = path.expanduser()
    if not path.exists():
        raise CIFAR10NotFoundError(
            f"CIFAR-10 was looked for at {path} (given by {given_by}), but nothing is there.\n"
            + HOW_TO_GET_A_COPY
        )
    if path.is_file():
        return path.resolve()
    if _is_batch_folder(path):
        return path.resolve()
    for candidate in (path / BATCH_FOLDER, path / ARCHIVE_NAME):
        if candidate.exists():
            return candidate.resolve()
    raise CIFAR10NotFoundError(
        f"{path} (given by {given_by}) is a folder, but it holds neither CIFAR-10 batch files "
        f"nor {BATCH_FOLDER}/ nor {ARCHIVE_NAME}.\n" + HOW_TO_GET_A_COPY
    )


def _is_batch_folder(path: Path) -> bool:
    return any((path / name).exists() for name in (*TRAIN_BATCHES, TEST_BATCH, "batches.meta"))


def _fingerprint(source: Path) -> dict:
    """What identifies a local copy cheaply: its path, sizes and modification times."""
    files = [source] if source.is_file() else [source / n for n in (*TRAIN_BATCHES, TEST_BATCH)]
    return {
        "source": str(source),
        "files": [[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files if f.exists()],
    }


def _decode_local(source: Path):
    if source.is_dir():
        return _decode_folder(source)
    return _decode_archive(source)


def _decode_folder(folder: Path):
    missing = [n for n in (*TRAIN_BATCHES, TEST_BATCH) if not (folder / n).is_file()]
    if missing:
        raise CIFAR10CorruptError(
            f"The CIFAR-10 folder {folder} is incomplete: {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing. A complete {BATCH_FOLDER} folder "
            f"holds {', '.join(TRAIN_BATCHES)} and {TEST_BATCH}.\n"
            f"What to do: extract {ARCHIVE_NAME} again (tar xzf {ARCHIVE_NAME}), or point "
            f"{PATH_VARIABLE} at the archive itself."
        )
    batches = {}
    for name in (*TRAIN_BATCHES, TEST_BATCH):
        with open(folder / name, "rb") as stream:
            batches[name] = _read_batch(stream, folder / name)
    return _assemble(batches)


def _decode_archive(archive: Path):
    wanted = {f"{BATCH_FOLDER}/{n}": n for n in (*TRAIN_BATCHES, TEST_BATCH)}
    batches = {}
    try:
        # Streaming mode reads the gzip once, front to back, without extracting to disk.
        with tarfile.open(archive, "r|*") as tar:
            for member in tar:
                name = wanted.get(member.name.lstrip("./"))
                if name and member.isfile():
                    batches[name] = _read_batch(tar.extractfile(member), archive)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise _corrupt_archive(archive, error) from error
    missing = [n for n in wanted.values() if n not in batches]
    if missing:
        raise _corrupt_archive(archive, f"it lacks {', '.join(missing)}")
    return _assemble(batches)


def _corrupt_archive(archive: Path, reason) -> CIFAR10CorruptError:
    if isinstance(reason, BaseException):
        reason = f"{type(reason).__name__}: {reason}"
    size = archive.stat().st_size
    return CIFAR10CorruptError(
        f"The CIFAR-10 archive {archive} ({size:,} bytes) is truncated or corrupt: {reason}.\n"
        "What to do: delete it and copy or download it again (the official archive is about "
        f"170 MB); if an extracted {BATCH_FOLDER} folder is at hand, point {PATH_VARIABLE} at "
        "that instead."
    )


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Refuses every global but those needed to rebuild a NumPy array.

    A CIFAR batch is a pickle; an unrestricted unpickler would run any code a tampered file
    carries. Keras's own loader restricts it the same way.
    """

    ALLOWED = frozenset({
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
    })

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR-10 batch")


def _read_batch(stream, origin: Path):
    """Return ``(images uint8 (N, 32, 32, 3), labels uint8 (N,))`` of one pickled batch."""
    try:
        batch = _ArrayOnlyUnpickler(stream, encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"])
    # A corrupt length in the pickle can ask for an impossible allocation (MemoryError, OverflowError).
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, AttributeError, MemoryError,
            OverflowError) as error:
        raise CIFAR10CorruptError(
            f"A CIFAR-10 batch in {origin} is truncated or corrupt ({type(error).__name__}: {error}).\n"
            "What to do: replace the copy with a fresh one of the official archive."
        ) from error
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise CIFAR10CorruptError(
            f"A CIFAR-10 batch in {origin} has data of shape {data.shape} and {len(labels)} "
            "labels; expected (N, 3072) and N labels.\n"
            "What to do: replace the copy with a fresh one of the official archive."
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise CIFAR10CorruptError(f"A CIFAR-10 batch in {origin} has labels outside 0-9.")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, labels.astype(np.uint8)


def _assemble(batches: dict):
    """Stack batches in Keras's order: data_batch_1..5 for training, test_batch for testing."""
    x_train = np.ascontiguousarray(np.concatenate([batches[n][0] for n in TRAIN_BATCHES]))
    y_train = np.concatenate([batches[n][1] for n in TRAIN_BATCHES]).reshape(-1, 1)
    x_test = np.ascontiguousarray(batches[TEST_BATCH][0])
    y_test = batches[TEST_BATCH][1].reshape(-1, 1)
    return (x_train, y_train), (x_test, y_test)


# ---------------------------------------------------------------------------------------------
# The Keras download


def _load_from_keras():
    def download():
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import keras

        try:
            return keras.datasets.cifar10.load_data()
        except Exception as error:  # Keras raises a bare Exception for a failed download.
            raise CIFAR10NotFoundError(
                "CIFAR-10 could not be loaded. Tried, in order:\n"
                "  1. the path argument: not given\n"
                f"  2. the {PATH_VARIABLE} environment variable: not set\n"
                f"  3. the Keras download from {KERAS_ORIGIN}: failed "
                f"({type(error).__name__}: {error})\n"
                "This machine is probably offline.\n" + HOW_TO_GET_A_COPY
            ) from error

    # Keras keeps its own archive; caching the decoded arrays spares its re-hash and re-extract.
    return _cached(KERAS_FINGERPRINT, download)


KERAS_FINGERPRINT = {"source": "keras.datasets.cifar10.load_data"}


# ---------------------------------------------------------------------------------------------
# The decoded-array cache


def _cache_folder(fingerprint: dict) -> Path:
    return cache_root() / hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:20]


def _cached(fingerprint: dict, decode):
    folder = _cache_folder(fingerprint)
    arrays = _read_cache(folder)
    if arrays is None:
        arrays = decode()
        _write_cache(folder, arrays, fingerprint)
    (x_train, y_train), (x_test, y_test) = arrays
    return (x_train, y_train), (x_test, y_test)


def _read_cache(folder: Path):
    if not (folder / "source.json").is_file():
        return None
    try:
        x_train, y_train, x_test, y_test = (
            np.load(folder / f"{name}.npy", allow_pickle=False) for name in _ARRAY_NAMES
        )
    except (OSError, ValueError):
        shutil.rmtree(folder, ignore_errors=True)  # Damaged: decode again.
        return None
    return (x_train, y_train), (x_test, y_test)


def _write_cache(folder: Path, arrays, fingerprint: dict) -> None:
    """Write the arrays beside ``folder`` and rename into place, so no reader sees half a cache."""
    (x_train, y_train), (x_test, y_test) = arrays
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".writing-", dir=folder.parent))
    except OSError:
        return  # A read-only home still loads, only without a cache.
    try:
        for name, array in zip(_ARRAY_NAMES, (x_train, y_train, x_test, y_test)):
            np.save(staging / f"{name}.npy", array, allow_pickle=False)
        (staging / "source.json").write_text(json.dumps(fingerprint, indent=1))
        os.rename(staging, folder)
    except OSError:
        pass  # Another process finished first, or the disk is full: the arrays are still good.
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def class_indices(labels) -> np.ndarray:
    """Return integer class labels ``(N,)`` from ints ``(N,)``, ``(N, 1)`` or ``(N, C)`` scores.

    A 2-D array with more than one column is one-hot or probabilities: its argmax is the class.
    """
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] > 1:
        return labels.argmax(axis=1)
    labels = labels.reshape(-1)
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.array_equal(labels, np.round(labels)):
            raise ValueError(
                "Labels should be whole class numbers, one-hot rows or probability rows, but "
                f"got a {labels.shape} array of non-integer values such as {labels[0]!r}."
            )
    return labels.astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Sample images
