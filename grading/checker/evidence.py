"""What the checks decide on: the kernel's answers, read as untrusted data, and what the checker
loads itself (the data set, the run mode, the submitted weights files).

Untrusted data is read with limits: JSON of a bounded size and number of containers, arrays from
``.npy`` bytes without pickles (``allow_pickle=False``) and of a bounded size, models only through
:mod:`grading.checker.safe_models`, files of the submission opened without following links.

The inputs a test gave the student's functions were drawn afresh for this grading from the seed
in the records (:attr:`Evidence.fresh`, the grader's own copy); checks make them again from it.
A model's description is accepted only if the model it describes computes what the kernel's
model computed for random inputs with random weights (:meth:`Evidence.model`).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import stat
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cifar10_course.acceptance import shorten, with_hint
from cifar10_course.training import WEIGHTS_FOLDER, missing_weights
from grading.protocol import codec, harvest
from grading.protocol import probes as p
from grading.checker import Failed
from grading.protocol.harvest import sample_rows

MAX_ARRAY_BYTES = 256 * 2**20
MAX_WEIGHTS_BYTES = 512 * 2**20
MAX_ANSWER_BYTES = 64 * 2**20
# Objects and lists one answer may hold: parsing each costs memory (about 100 bytes for an empty
# one), far beyond the text's own size; the course's answers hold a few thousand at most.
MAX_CONTAINERS = 500_000


class Unanswered(Failed):
    """The kernel gave no answer for a probe: the test's cell did not run, or the kernel died."""


@dataclass
class Sample:
    """Rows of a large array: ``values`` are the rows ``rows`` of an array of ``shape``."""

    values: np.ndarray
    rows: np.ndarray
    shape: tuple
    kind: str

    @property
    def dtype(self):
        return self.values.dtype


@dataclass
class Returned:
    """An array a student's function returned (whole), with the type it had."""

    values: np.ndarray
    kind: str


class Evidence:
    """The answers one notebook's kernel gave, with the checker's own data beside them."""

    def __init__(self, records: dict, submission: Path, data, workdir: Path, answers: Path | None = None):
        self.harvests = records["harvests"]
        self.cells = records["cells"]  # grade id -> {"probes": {key: [harvest, position]}, "state", "message"}
        self.fresh = p.Fresh(records.get("seed", 0))  # the grader's random choices for this grading
        self.submission = submission
        self.data = data  # grading.checker.data.CourseData: the mode and the data set, loaded here
        self.workdir = workdir
        self.answers = answers  # the folder of the answers' files (beside the records)
        self._parsed: dict[int, list] = {}
        self._verified: dict[tuple, str | None] = {}
        self.grade_id = None
        self.signals: dict = {}  # what the current test measured for the instructor's report, never a score
        self.seconds: Counter = Counter()  # where the current test's time went (rebuilds, predictions)

    @contextmanager
    def timed(self, phase: str):
        """Add the seconds of the block to the current test's ``phase`` (the benchmark's breakdown)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] += time.perf_counter() - start

    # -- answers -------------------------------------------------------------------------------

    def answer(self, probe: dict) -> dict:
        """The kernel's answer to ``probe`` for the current test; raises :class:`Failed` with what
        the student should read when the call failed or never happened."""
        entry = self._entry(probe)
        if "error" in entry:
            name, message = self.raised(probe)
            if name == "NotImplementedError" and not message:
                message = "it is not written yet (replace raise NotImplementedError() with your code)"
            raise Failed(with_hint(f"{_call_text(probe)} raised {name}: {message}"))
        answer = entry.get("ok")
        if not isinstance(answer, dict):
            raise Failed(f"the grader could not read what {_call_text(probe)} gave back")
        return answer

    def raised(self, probe: dict) -> tuple[str, str] | None:
        """``(exception name, message)`` when the call of ``probe`` raised, else None."""
        error = self._entry(probe).get("error")
        if error is None:
            return None
        name, message = ((error if isinstance(error, list) else []) + ["", ""])[:2]
        return shorten(name, 100), shorten(message, 2000)

    def _entry(self, probe: dict) -> dict:
        cell = self.cells.get(self.grade_id) or {}
        where = cell.get("probes", {}).get(p.key(probe))
        if where is None:
            raise Unanswered(cell.get("message") or "this test's cell did not run, so the grader could not call your code")
        harvest_index, position = where
        answers = self._answers(harvest_index)
        if position >= len(answers) or not isinstance(answers[position], dict):
            error = self.harvests[harvest_index].get("error")
            if not error and self.harvests[harvest_index].get("answer"):
                error = ("the grader could not read the kernel's answer: it is not what the grader's helper writes (too "
                         "large, too many values, or not its JSON). Did a cell of your notebook replace names it did not "
                         "define?")
            raise Unanswered(error or "the kernel gave no answer")
        return answers[position]

    def _answers(self, index: int) -> list:
        if index not in self._parsed:
            self._parsed[index] = parse_answer(self._answer_text(self.harvests[index]))
        return self._parsed[index]

    def _answer_text(self, harvest_record: dict) -> str | None:
        """The text of an answer: kept in a file beside the records (or, in hand-made records, inline)."""
        name = harvest_record.get("answer")
        if not isinstance(name, str):
            return None
        if self.answers is None:
            return name
        path = self.answers / Path(name).name
        try:
            with open(path, "rb") as handle:
                return handle.read(MAX_ANSWER_BYTES + 1).decode("utf-8", errors="replace")
        except OSError:
            return None

    def fresh_of(self, probe: dict) -> int:
        """The fresh number the executor gave ``probe`` in this grading."""
        return p.fresh_value(self.fresh.seed, probe)

    def first_answer(self, probe: dict) -> dict | None:
        """The first answer the kernel gave to ``probe`` in this notebook, from whichever test's cell asked first."""
        wanted = p.key(probe)
        for index, harvest_record in enumerate(self.harvests):
            sent = (harvest_record.get("request") or {}).get("probes") or []
            for position, item in enumerate(sent):
                if isinstance(item, dict) and p.key(item) == wanted:
                    answers = self._answers(index)
                    found = answers[position] if position < len(answers) else None
                    return found.get("ok") if isinstance(found, dict) and isinstance(found.get("ok"), dict) else None
        return None

    def request(self, probe: dict) -> dict:
        """The grader's own copy of the request that carried ``probe`` (its seeds and limits)."""
        harvest_index, _ = self.cells[self.grade_id]["probes"][p.key(probe)]
        return self.harvests[harvest_index]["request"]

    def result(self, probe: dict):
        """What a ``call`` probe's function returned, decoded (arrays, numbers, lists, tuples)."""
        return self.decode(self.answer(probe).get("result"), probe)

    def decode(self, value, probe: dict, depth: int = 0):
        """An encoded value from the kernel (see :func:`grading.protocol.harvest.encode`), checked as it is read."""
        if depth > 10:
            raise Failed("the value is nested too deeply to check")
        if value is None or isinstance(value, (bool, int, str)):
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63:
                raise Failed("a number is too large to check")
            return value
        if not isinstance(value, dict):
            raise Failed("the grader could not read a value")
        if "__float__" in value:
            try:
                return float(value["__float__"])
            except (TypeError, ValueError):
                raise Failed("the grader could not read a number") from None
        if "__list__" in value or "__tuple__" in value:
            items = value.get("__list__", value.get("__tuple__"))
            if not isinstance(items, list):
                raise Failed("the grader could not read a list")
            decoded = [self.decode(item, probe, depth + 1) for item in items]
            return tuple(decoded) if "__tuple__" in value else decoded
        if "__object__" in value:
            return Foreign(str(value["__object__"])[:200])
        if "__ndarray__" in value:
            return self._array(value, probe)
        raise Failed("the grader could not read a value")

    def _array(self, value: dict, probe: dict):
        array = load_array(value["__ndarray__"])
        kind = str(value.get("type", "numpy.ndarray"))[:200]
        if not value.get("sampled"):
            return Returned(array, kind)
        shape = value.get("shape")
        if not (isinstance(shape, list) and shape and all(isinstance(n, int) and 0 <= n < 2**40 for n in shape)):
            raise Failed("the grader could not read the shape of an array")
        request = self.request(probe)
        rows = sample_rows(shape[0], request["sample_rows"], request["seed"])
        if array.shape != (len(rows), *shape[1:]):
            raise Failed("the grader could not read the rows of an array")
        return Sample(array, rows, tuple(shape), kind)

    # -- models ---------------------------------------------------------------------------------

    def model_answer(self, probe: dict, name: str) -> dict:
        """A ``model`` probe's answer: fails unless the build function returned a Keras model."""
        answer = self.answer(probe)
        if not isinstance(answer.get("json"), str):
            raise Failed(f"{name}() should return a Keras model, but returned {shorten(answer.get('type'), 200)}.")
        return answer

    def model(self, probe: dict, name: str | None = None, answer: dict | None = None):
        """The model a build function returned, rebuilt here from its description (``answer``, by
        default the current test's), once that description is shown to be the kernel's model."""
        from grading.checker import safe_models

        name = name or probe["function"]
        answer = answer or self.model_answer(probe, name)
        what = f"What {name}() returns"
        with self.timed("rebuilds"):
            model = safe_models.build(answer["json"], what)
            problem = self._verified.get(id(answer), "unchecked")
            if problem == "unchecked":
                problem = self._verified[id(answer)] = self._unlike_its_description(answer, probe, name, what)
        if problem:
            raise Failed(problem)
        return model

    def _unlike_its_description(self, answer: dict, probe: dict, name: str, what: str) -> str | None:
        """Why the model the kernel built is not the one its description says, or None: both must
        compute the same outputs for the same random inputs and weights (this grading's)."""
        from grading.checker import safe_models

        fresh = self.fresh_of(probe)
        try:
            expected = harvest.fresh_outputs(safe_models.build(answer["json"], what), fresh)
        except Exception:  # The description cannot predict either: the structure tests say what is wrong.
            return None
        if "outputs" not in answer:
            return (f"{what} could not predict images in your kernel ({shorten(answer.get('outputs_error'), 300)}), "
                    "though its description can.")
        try:
            found = self.decode(answer["outputs"], probe)
        except Failed:
            found = None
        values = getattr(found, "values", None)
        if not (isinstance(values, np.ndarray) and values.shape == expected.shape
                and np.allclose(values.astype("float64"), expected, rtol=1e-3, atol=1e-5, equal_nan=True)):
            return (f"{what} does not compute what its own description (to_json()) says: the grader rebuilt it from "
                    "that description and got other outputs for the same random images and weights. Build it from "
                    "Keras's own layers, without replacing their methods.")
        return None

    def trained_model(self, probe: dict, weights: str, answer: dict | None = None):
        """The model of ``probe``'s build function (described by ``answer``, by default the current
        test's) with the submitted weights file ``weights`` (relative to the submission) loaded into
        it; fails with advice when that cannot be."""
        from grading.checker import safe_models

        name = probe["function"]
        model = self.model(probe, name, answer)
        copy = self.submitted_file(weights, MAX_WEIGHTS_BYTES, advice=(
            f"Run the whole notebook once without nbgrader (the training cell saves them there), then "
            f"submit the {Path(weights).parent} folder with it."), missing=missing_weights(weights, self.present_files()))
        try:
            with self.timed("rebuilds"):
                safe_models.load_weights(model, copy)
        except safe_models.Mismatch as error:
            raise Failed(f"The weights in {weights} do not fit the model that {name}() builds now, probably "
                         f"because it changed after training. Run the training cell again, then submit. "
                         f"Keras said: {error}") from None
        except Exception as error:
            raise Failed(f"The weights file {weights} cannot be read ({type(error).__name__}): it is damaged or "
                         "not a Keras weights file. Run the training cell again, then submit.") from None
        return model

    def present_files(self) -> list[str]:
        """The names in the submission's folder and its trained_models folder, as relative paths
        (listed through the folders' descriptors, following no link; printable names only)."""
        found = []
        for relative in ("", WEIGHTS_FOLDER):
            try:
                fd = os.open(self.submission / relative if relative else self.submission,
                             os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            except OSError:
                continue
            try:
                found += [f"{relative}/{name}" if relative else name for name in os.listdir(fd)[:500]
                          if name.isprintable()]
            finally:
                os.close(fd)
        return found

    def submitted_file(self, relative: str, limit: int, advice: str, missing: str | None = None) -> Path:
        """A private copy of a file of the submission, opened without following links; ``missing``
        is the message when there is none (by default, "No trained weights at ..." and ``advice``)."""
        target = self.workdir / Path(relative).name
        folder = os.open(self.submission, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            parts = Path(relative).parts
            for part in parts[:-1]:
                inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder)
                os.close(folder)
                folder = inner
            fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)
        except OSError:
            raise Failed(missing or f"No trained weights at {relative}. {advice}") from None
        finally:
            os.close(folder)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise Failed(f"{relative} is not a regular file. {advice}")
            if info.st_size > limit:
                raise Failed(f"{relative} is larger than {limit // 2**20} MB. {advice}")
            with open(target, "wb") as out:
                out.write(os.read(fd, limit + 1)[:limit])
        finally:
            os.close(fd)
        return target

    def file_answer(self, encoded, suffix: str) -> Path | None:
        """Bytes a probe returned (a file a student's function wrote), as a private file here."""
        if encoded is None:
            return None
        try:
            content = base64.b64decode(encoded, validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise Failed("the grader could not read a file your function wrote") from None
        handle, name = tempfile.mkstemp(suffix=suffix, dir=self.workdir)
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        return Path(name)


@dataclass(frozen=True)
class Foreign:
    """Something a function returned that is no array, number or string: only its type is known."""

    kind: str


def parse_answer(text) -> list:
    """The entries of one answer's JSON text; an empty list when it is not readable, too large or
    holds more containers than :data:`MAX_CONTAINERS` (counted before parsing: each costs memory)."""
    if not isinstance(text, str) or len(text) > MAX_ANSWER_BYTES:
        return []
    if text.count("{") + text.count("[") > MAX_CONTAINERS:
        return []
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return []
    return parsed if isinstance(parsed, list) else []


def load_array(encoded) -> np.ndarray:
    """An array from base64 ``.npy`` bytes: no pickles, no object arrays, at most
    :data:`MAX_ARRAY_BYTES`."""
    try:
        return codec.load_array(encoded, MAX_ARRAY_BYTES)
    except ValueError as error:
        raise Failed("an array is too large to check" if str(error) == "too large"
                     else "the grader could not read an array") from None


def _call_text(probe: dict) -> str:
    kind = probe.get("kind")
    if kind == "training":
        return f"{probe['train']}(model, x, y)"
    if kind == "model" or (kind == "call" and not probe.get("args") and not probe.get("keywords")):
        return f"{probe['function']}()"
    return f"{probe.get('function')}(...)"
