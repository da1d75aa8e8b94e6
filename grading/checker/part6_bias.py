"""Part 6's graded tests: per-class recall, balanced accuracy, recall gap, under- and oversampling,
and the recall drop measured on the submitted networks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grading.protocol import harvest
from grading.protocol import probes as p
from grading.checker import Failed, graded_test
from grading.checker.common import kind_of, numbers, predictions, returned_values
from grading.checker.evidence import Returned

TESTS: dict = {}
CAT = 3
# Every case's numbers are drawn afresh at each grading (grading.protocol.probes.Fresh); the expected
# answers come from the reference functions below, never from the kernel.


reference_recall = harvest.task_per_class_recall  # per-class recall as the task defines it: nan without images


def reference_balanced(y_true, y_pred, classes: int) -> float:
    return float(np.nanmean(reference_recall(y_true, y_pred, classes)))


def reference_gap(recalls) -> float:
    return float(np.nanmax(recalls) - np.nanmin(recalls))


@dataclass(frozen=True)
class Case:
    """One call of a student's function: the probe, the call as the student reads it, the right answer."""

    probe: dict
    shown: str
    expected: object
    about: str


def _shown(function: str, *args, classes=None) -> str:
    values = ", ".join(str(np.asarray(arg).tolist()) for arg in args)
    return f"{function}({values}" + ("" if classes is None else f", num_classes={classes}") + ")"


def recall_call(y_true, y_pred, num_classes=None) -> dict:
    keywords = {} if num_classes is None else {"num_classes": p.value(num_classes)}
    return p.call("per_class_recall", p.value(np.array(y_true)), p.value(np.array(y_pred)), keywords=keywords)


def balanced_call(y_true, y_pred, num_classes=None) -> dict:
    keywords = {} if num_classes is None else {"num_classes": p.value(num_classes)}
    return p.call("balanced_accuracy", p.value(np.array(y_true)), p.value(np.array(y_pred)), keywords=keywords)


def gap_call(recalls) -> dict:
    return p.call("recall_gap", p.value(recalls))


def one_number(evidence, probe: dict, what: str) -> float:
    found = evidence.result(probe)
    value = found.values if isinstance(found, Returned) else found
    if isinstance(value, bool) or np.ndim(value) != 0 or not isinstance(value, (int, float, np.ndarray)):
        raise Failed(f"{what} should return one number, not {kind_of(found)} {found if np.ndim(value) else ''}.")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise Failed(f"{what} should return one number, not {kind_of(found)}.") from None


# -- Task 6.1: per_class_recall ------------------------------------------------------------------

def _labels_case(fresh: p.Fresh, function: str, name: str, kind: str) -> Case:
    """A case of labels and predictions for per_class_recall or balanced_accuracy, of ``kind``."""
    rng = fresh.rng(f"{function}:{name}")
    classes, about = 3, ""
    if kind == "example":  # 4 classes, the last without images
        classes, present = 4, [0, 1, 2]
        y_true = rng.permutation(np.repeat(present, rng.integers(2, 4, size=3)))
        y_pred = rng.integers(0, 4, size=len(y_true))
        about = "class 3 has no images, so nan"
    elif kind == "missed":  # two classes, some images of class 1 missed
        classes = 2
        y_true = rng.permutation(np.repeat([0, 1], rng.integers(2, 6, size=2)))
        y_pred = y_true.copy()
        ones = np.flatnonzero(y_true == 1)
        y_pred[rng.choice(ones, size=int(rng.integers(1, len(ones) + 1)), replace=False)] = 0
        about = "two classes, some images of class 1 missed"
    elif kind == "correct":
        y_true = rng.permutation(np.repeat([0, 1, 2], rng.integers(1, 4, size=3)))
        y_pred = y_true.copy()
        about = "every prediction correct"
    elif kind == "never_predicted":
        classes = 2
        y_true = rng.permutation(np.repeat([0, 1], rng.integers(1, 5, size=2)))
        y_pred = np.zeros_like(y_true)
        about = "class 1 is never predicted, so its recall is 0"
    elif kind == "absent_but_predicted":
        y_true = rng.permutation(np.repeat([0, 2], rng.integers(2, 5, size=2)))
        y_pred = rng.integers(0, 3, size=len(y_true))
        y_pred[int(rng.integers(len(y_pred)))] = 1
        about = "class 1 has no images (though it is predicted), so its recall is nan"
    elif kind == "several_absent":
        classes = 5
        present = np.sort(rng.choice(5, size=2, replace=False))
        y_true = rng.permutation(np.repeat(present, rng.integers(1, 4, size=2)))
        y_pred = rng.integers(0, 5, size=len(y_true))
        about = f"only classes {present[0]} and {present[1]} have images"
    elif kind == "majority_right":
        classes = 2
        y_true = np.repeat([0, 1], [int(rng.integers(3, 9)), int(rng.integers(1, 3))])
        y_pred = np.zeros_like(y_true)
        about = "class 1 is never found, although most images are right"
    elif kind == "default":  # the default num_classes=10
        classes = None
        y_true = rng.permutation(np.repeat(np.arange(10), rng.integers(1, 4, size=10)))
        y_pred = rng.integers(0, 10, size=len(y_true))
        about = "the default num_classes=10"
    else:  # "mixed": three classes, different recalls
        y_true = rng.permutation(np.repeat([0, 1, 2], rng.integers(2, 6, size=3)))
        y_pred = rng.integers(0, 3, size=len(y_true))
        about = "three classes with different recalls"
    keywords = {} if classes is None else {"num_classes": p.value(classes)}
    probe = p.call(function, p.value(y_true), p.value(y_pred), keywords=keywords,
                   stand_ins=("per_class_recall",) if function == "balanced_accuracy" else ())
    count = 10 if classes is None else classes
    reference = reference_recall if function == "per_class_recall" else reference_balanced
    return Case(probe, _shown(function, y_true, y_pred, classes=classes), reference(y_true, y_pred, count), about)


RECALL_KINDS = ("missed", "correct", "never_predicted", "absent_but_predicted", "several_absent", "default")


def recall_example(fresh: p.Fresh) -> Case:
    return _labels_case(fresh, "per_class_recall", "example", "example")


def recall_cases(fresh: p.Fresh) -> list[Case]:
    return [_labels_case(fresh, "per_class_recall", kind, kind) for kind in RECALL_KINDS]


def _recalls(evidence, case: Case) -> np.ndarray:
    found = numbers(evidence.result(case.probe), f"What {case.shown} returns")
    expected = np.asarray(case.expected)
    if found.shape != expected.shape:
        raise Failed(f"{case.shown} should return {len(expected)} recalls, one per class ({case.about}), not an array "
                     f"of shape {found.shape}.")
    if not np.issubdtype(found.dtype, np.floating):
        raise Failed(f"{case.shown} should return floats (recalls are shares, and nan is a float), not {found.dtype}.")
    if not np.allclose(found, expected, equal_nan=True):
        raise Failed(f"{case.shown} should be {np.round(expected, 3).tolist()} ({case.about}), but is "
                     f"{np.round(found.astype(float), 3).tolist()}.")
    return found


@graded_test(TESTS, "per_class_recall_example", lambda fresh: recall_example(fresh).probe)
def check_recall_example(evidence):
    _recalls(evidence, recall_example(evidence.fresh))


@graded_test(TESTS, "per_class_recall_cases", lambda fresh: [case.probe for case in recall_cases(fresh)])
def check_recall_cases(evidence):
    for case in recall_cases(evidence.fresh):
        _recalls(evidence, case)


# -- Task 6.2: balanced_accuracy and recall_gap ------------------------------------------------------

BALANCED_KINDS = ("absent_but_predicted", "correct", "majority_right", "mixed", "default")


def balanced_example(fresh: p.Fresh) -> Case:
    return _labels_case(fresh, "balanced_accuracy", "example", "majority_right")


def balanced_cases(fresh: p.Fresh) -> list[Case]:
    return [_labels_case(fresh, "balanced_accuracy", kind, kind) for kind in BALANCED_KINDS]


def gap_case(fresh: p.Fresh, kind: str) -> Case:
    rng = fresh.rng(f"recall_gap:{kind}")
    if kind == "single":
        recalls, about = np.round(rng.random(1), 2), "a single class: no gap"
    elif kind == "equal":
        recalls, about = np.array([np.nan, *[np.round(rng.random(), 2)] * 2]), "equal recalls and a nan"
    elif kind == "nan":
        recalls, about = np.round(rng.random(4), 2), "the nan is ignored"
        recalls[int(rng.integers(4))] = np.nan
    else:  # two or four recalls in any order
        recalls, about = np.round(rng.random(2 if kind in ("example", "two") else 4), 2), "largest minus smallest"
    return Case(p.call("recall_gap", p.value(recalls)), _shown("recall_gap", recalls), reference_gap(recalls), about)


GAP_KINDS = ("two", "nan", "single", "equal", "unordered")


def _one(evidence, case: Case, what: str) -> None:
    found = one_number(evidence, case.probe, what)
    if not np.isclose(found, case.expected):
        raise Failed(f"{case.shown} should be {case.expected:.4f} ({case.about}), but is {found}.")


@graded_test(TESTS, "balanced_accuracy_example", lambda fresh: [balanced_example(fresh).probe, gap_case(fresh, "example").probe])
def check_balanced_example(evidence):
    _one(evidence, balanced_example(evidence.fresh), "balanced_accuracy")
    _one(evidence, gap_case(evidence.fresh, "example"), "recall_gap")


@graded_test(TESTS, "balanced_accuracy_cases",
             lambda fresh: [case.probe for case in balanced_cases(fresh)] + [gap_case(fresh, kind).probe for kind in GAP_KINDS])
def check_balanced_cases(evidence):
    for case in balanced_cases(evidence.fresh):
        _one(evidence, case, "balanced_accuracy")
    for kind in GAP_KINDS:
        _one(evidence, gap_case(evidence.fresh, kind), "recall_gap")


# -- Task 6.3: undersample_class -------------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    """The images and labels the sampling tests pass: 200 images of 2x2x3, image i filled with
    ``offset + i`` (so its origin can be read back), 20 of each class in a random order."""

    x: np.ndarray
    y: np.ndarray
    offset: float

    def indices(self, images: np.ndarray) -> np.ndarray:
        return np.rint(np.asarray(images, dtype="float64")[:, 0, 0, 0] - self.offset).astype(int)


def source(fresh: p.Fresh) -> Source:
    rng = fresh.rng("sampling_source")
    offset = float(rng.integers(1, 500)) + 0.25
    x = np.repeat(offset + np.arange(200, dtype="float32"), 12).reshape(200, 2, 2, 3)
    return Source(x, rng.permutation(np.tile(np.arange(10), 20)), offset)


def under_call(data: Source, label, fraction, seed=None, keep_args=False) -> dict:
    keywords = {} if seed is None else {"seed": p.value(seed)}
    return p.call("undersample_class", p.value(data.x), p.value(data.y), p.value(label), p.value(fraction),
                  keywords=keywords, keep_args=keep_args)


UNDER_CASES = [(7, 0.0, 0), (7, 0.1, 2), (7, 0.25, 5), (7, 0.33, 7), (7, 0.65, 13), (7, 1.0, 20), (0, 0.5, 10), (9, 0.35, 7)]
SEEDS = (0, 1, 2)
BAD_FRACTIONS = (-0.1, 1.5)


def under_counts_probe(fresh):
    return under_call(source(fresh), 3, 0.1)


def under_probes(fresh) -> dict:
    data = source(fresh)
    return {"cases": [under_call(data, label, fraction, seed=1, keep_args=True) for label, fraction, _ in UNDER_CASES],
            "seeds": {seed: under_call(data, 7, 0.5, seed=seed) for seed in SEEDS},
            "default": under_call(data, 7, 0.5),
            "bad": {fraction: under_call(data, 7, fraction) for fraction in BAD_FRACTIONS}}


def _all_under_probes(fresh) -> list[dict]:
    found = under_probes(fresh)
    return [*found["cases"], *found["seeds"].values(), found["default"], *found["bad"].values()]


def kept(evidence, probe: dict, about: str) -> tuple[np.ndarray, np.ndarray]:
    """The images and labels undersample_class returned, as arrays of the same length."""
    x_kept, y_kept = (numbers(value, f"What undersample_class returns for {about}")
                      for value in returned_values(evidence, probe, ("x_kept", "y_kept"), "undersample_class"))
    if len(x_kept) != len(y_kept):
        raise Failed(f"undersample_class returned {len(x_kept)} images but {len(y_kept)} labels; they should match.")
    return x_kept, y_kept


def kept_indices(evidence, data: Source, probe: dict, about: str) -> np.ndarray:
    """The original index of every returned image, after checking it."""
    x_result, y_result = kept(evidence, probe, about)
    if x_result.shape[1:] != (2, 2, 3):
        raise Failed(f"For {about}, undersample_class should return images of shape (n, 2, 2, 3) and n labels, "
                     f"not {x_result.shape} and {y_result.shape}.")
    found = data.indices(x_result)
    if np.any((found < 0) | (found >= 200)) or not np.array_equal(x_result, data.x[np.clip(found, 0, 199)]):
        raise Failed(f"For {about}, the returned images should be unchanged copies of images of x.")
    if not np.array_equal(y_result, data.y[found]):
        raise Failed(f"For {about}, each returned label should be the label of its image: x and y are out of step.")
    if not np.all(np.diff(found) > 0):
        raise Failed(f"For {about}, the images should keep their original order, without repeats; "
                     f"the first of their original positions are {found[:12].tolist()}.")
    return found


@graded_test(TESTS, "undersample_class_counts", under_counts_probe)
def under_counts(evidence):
    _, y_kept = kept(evidence, under_counts_probe(evidence.fresh), "label=3, fraction=0.1")
    counts = np.bincount(y_kept.astype(int), minlength=10)
    if counts[3] != 2:
        raise Failed(f"Class 3 has 20 images, so a fraction of 0.1 should keep round(0.1 * 20) = 2 of them, not {counts[3]}.")
    if not np.all(np.delete(counts, 3) == 20):
        raise Failed(f"Every other class should keep all of its 20 images; the counts per class are {counts}.")


@graded_test(TESTS, "undersample_class_details", _all_under_probes)
def under_details(evidence):
    data, probes = source(evidence.fresh), under_probes(evidence.fresh)
    for probe, (label, fraction, expected) in zip(probes["cases"], UNDER_CASES):
        about = f"label={label}, fraction={fraction}"
        found = kept_indices(evidence, data, probe, about)
        counts = np.bincount(data.y[found], minlength=10)
        if counts[label] != expected:
            raise Failed(f"With {about}, class {label} should keep round({fraction} * 20) = {expected} of its 20 images, "
                         f"not {counts[label]}.")
        if not np.all(np.delete(counts, label) == 20):
            raise Failed(f"With {about}, every other class should keep all 20 images; counts: {counts}.")
        after = evidence.answer(probe).get("args_after") or [None, None]
        unchanged = [evidence.decode(value, probe) for value in after[:2]]
        if not all(isinstance(value, Returned) for value in unchanged) or not (
                np.array_equal(unchanged[0].values, data.x) and np.array_equal(unchanged[1].values, data.y)):
            raise Failed("undersample_class changed the x or y it was given; it should return new arrays and leave its "
                         "inputs as they were.")
    chosen = {seed: tuple(i for i in kept_indices(evidence, data, probe, f"seed={seed}") if data.y[i] == 7)
              for seed, probe in probes["seeds"].items()}
    if len(set(chosen.values())) == 1:
        raise Failed("Seeds 0, 1 and 2 all kept the same images of class 7; the choice should be random, made "
                     "with np.random.default_rng(seed).")
    default = tuple(i for i in kept_indices(evidence, data, probes["default"], "seed=0 (default)") if data.y[i] == 7)
    if default != chosen[0]:
        raise Failed("The default seed should be 0: undersample_class(x, y, 7, 0.5) should keep the same images as "
                     "undersample_class(x, y, 7, 0.5, seed=0).")
    for fraction, probe in probes["bad"].items():
        raised = evidence.raised(probe)
        if raised is None:
            raise Failed(f"undersample_class should raise ValueError for fraction={fraction}, which is outside [0, 1], "
                         "but it returned normally.")
        name, message = raised
        if name != "ValueError":
            raise Failed(f"undersample_class should raise ValueError for fraction={fraction}, not {name}: {message}")
        if "fraction" not in message.lower():
            raise Failed(f"The ValueError for fraction={fraction} should mention the word 'fraction' and the allowed "
                         f"range; its message is {message!r}.")


# -- Task 6.4: oversample_class --------------------------------------------------------------------

def over_call(data: Source, x, label, target, seed=None, keep_args=False) -> dict:
    keywords = {} if seed is None else {"seed": p.value(seed)}
    return p.call("oversample_class", p.value(x), p.value(data.y), p.value(label), p.value(target), p.recorder(),
                  keywords=keywords, keep_args=keep_args)


def over_probes(fresh) -> dict:
    data = source(fresh)
    wide = data.x.astype("float64")
    return {"count": over_call(data, data.x, 3, 50), "grown": over_call(data, wide, 3, 70, keep_args=True),
            "seed0": over_call(data, wide, 3, 70, seed=0), "seed1": over_call(data, wide, 3, 70, seed=1),
            "full": {target: over_call(data, wide, 5, target) for target in (20, 10)}}


def grown(evidence, probe: dict) -> tuple[np.ndarray, np.ndarray]:
    x_new, y_new = (numbers(value, "What oversample_class returns")
                    for value in returned_values(evidence, probe, ("x_new", "y_new"), "oversample_class"))
    return x_new, y_new


def added_sources(evidence, data: Source, probe: dict, added: np.ndarray) -> np.ndarray:
    """The original index of every added image: an image of class 3 passed through the stand-in
    augmentation with ``training=True`` (which adds this probe's offset), checked."""
    offset = harvest.augment_offset(evidence.fresh_of(probe))
    sources = data.indices(np.asarray(added, dtype="float64") - offset)
    valid = np.clip(sources, 0, 199)
    if np.allclose(added, data.x[valid] + offset / 2) and not np.allclose(added, data.x[valid] + offset):
        raise Failed("augment should be called with training=True (Keras's random layers do nothing otherwise); "
                     "it was called without it.")
    if not (np.all((sources >= 0) & (sources < 200)) and np.all(data.y[valid] == 3)
            and np.allclose(np.asarray(added, dtype="float64") - offset, data.x[valid])):
        raise Failed("Each added image should be an image of class 3 passed through augment(batch, training=True) "
                     f"(the stand-in the grader passes adds {offset:g} to every pixel); some are not.")
    return sources


@graded_test(TESTS, "oversample_class_count", lambda fresh: over_probes(fresh)["count"])
def over_count(evidence):
    x_more, y_more = grown(evidence, over_probes(evidence.fresh)["count"])
    if len(x_more) != len(y_more):
        raise Failed(f"oversample_class returned {len(x_more)} images but {len(y_more)} labels; they should match.")
    counts = np.bincount(y_more.astype(int), minlength=10)
    if counts[3] != 50:
        raise Failed(f"Class 3 should end up with 50 images (20 + 30 copies), not {counts[3]}.")
    if not np.all(np.delete(counts, 3) == 20):
        raise Failed(f"Every other class should keep exactly its 20 images; the counts per class are {counts}.")


@graded_test(TESTS, "oversample_class_details",
             lambda fresh: [probe for name, probe in over_probes(fresh).items() if name != "full"]
             + list(over_probes(fresh)["full"].values()))
def over_details(evidence):
    data, probes = source(evidence.fresh), over_probes(evidence.fresh)
    wide = data.x.astype("float64")
    x_grown, y_grown = grown(evidence, probes["grown"])
    if x_grown.dtype != np.float32:
        raise Failed("oversample_class should return float32 images, whatever the type of x; x was float64 here and "
                     f"the result is {x_grown.dtype}.")
    if not len(x_grown) == len(y_grown) == 250:
        raise Failed("Class 3 has 20 images and should reach 70, so 50 copies should be added to the 200 images (drawing "
                     f"with replacement); the result has {len(x_grown)} images and {len(y_grown)} labels.")
    if not (np.array_equal(x_grown[:200], wide) and np.array_equal(y_grown[:200], data.y)):
        raise Failed("The first 200 images and labels returned should be x and y themselves, unchanged and in order; "
                     "the copies go after them.")
    if not np.all(y_grown[200:] == 3):
        raise Failed(f"Every added image should be labelled 3; found {y_grown[200:]}.")
    sources = added_sources(evidence, data, probes["grown"], x_grown[200:])
    if len(set(sources.tolist())) <= 1:
        raise Failed("The copies should come from randomly drawn images of class 3, not all from one image.")
    after = [evidence.decode(value, probes["grown"])
             for value in (evidence.answer(probes["grown"]).get("args_after") or [None])[:2]]
    if not (len(after) == 2 and all(isinstance(v, Returned) for v in after)
            and np.array_equal(after[0].values, wide) and np.array_equal(after[1].values, data.y)):
        raise Failed("oversample_class changed the x or y it was given; it should leave its inputs as they were.")
    again, _ = grown(evidence, probes["seed0"])
    if len(again) != 250 or not np.array_equal(added_sources(evidence, data, probes["seed0"], again[200:]), sources):
        raise Failed("The default seed should be 0, and the same seed should draw the same images: call "
                     "np.random.default_rng(seed) inside the function.")
    other, _ = grown(evidence, probes["seed1"])
    if len(other) == 250 and np.array_equal(added_sources(evidence, data, probes["seed1"], other[200:]), sources):
        raise Failed("Seeds 0 and 1 drew exactly the same images; the draw should be random, made with "
                     "np.random.default_rng(seed).")
    for target, probe in probes["full"].items():
        raised = evidence.raised(probe)
        if raised is not None:
            raise Failed(f"Class 5 already has 20 images, so oversample_class(x, y, 5, {target}, augment) should add "
                         f"nothing, but it failed with {raised[0]}: {raised[1]}")
        x_full, y_full = grown(evidence, probe)
        if not len(x_full) == len(y_full) == 200:
            raise Failed(f"Class 5 already has 20 images, so asking for {target} should add nothing; the result has "
                         f"{len(x_full)} images.")


# -- Task 6.5: recall_drop ---------------------------------------------------------------------------

def drop_case(fresh: p.Fresh, kind: str) -> Case:
    """recall_drop on labels of ten classes, for one class ``label``: its recall falls
    (``example``), rises (``rising``), or falls from 1 to 0 while every other class changes
    (``single``: only the class asked about counts)."""
    rng = fresh.rng(f"recall_drop:{kind}")
    label = int(rng.integers(10))
    others = rng.choice(np.delete(np.arange(10), label), size=int(rng.integers(3, 7)))
    count = int(rng.integers(3, 7))
    y_true = np.concatenate([np.full(count, label), others])
    wrong = (label + 1) % 10
    found_before, found_after = sorted(rng.choice(count + 1, size=2, replace=False).tolist(), reverse=kind != "rising")
    if kind == "single":
        found_before, found_after = count, 0
    before = np.where(np.arange(len(y_true)) < found_before, label, wrong)
    after = np.where(np.arange(len(y_true)) < found_after, label, wrong)
    before[count:] = others if kind != "single" else wrong
    after[count:] = wrong if kind != "single" else others
    order = rng.permutation(len(y_true))
    y_true, before, after = y_true[order], before[order], after[order]
    expected = float(np.mean(before[y_true == label] == label) - np.mean(after[y_true == label] == label))
    about = {"example": "its recall falls", "rising": "when the recall rises, the drop is negative",
             "single": "only the images of the class asked about count"}[kind]
    probe = p.call("recall_drop", p.value(y_true), p.value(before), p.value(after), p.value(label),
                   stand_ins=("per_class_recall",))
    return Case(probe, _shown("recall_drop", y_true, before, after, label), expected, about)


SMALL_CNN = p.model("build_small_cnn")
DROP_MEASURED = p.call("recall_drop", p.saved_predictions("part6_bias", "build_small_cnn", "balanced", 0),
                       p.saved_predictions("part6_bias", "build_small_cnn", "balanced", 1),
                       p.saved_predictions("part6_bias", "build_small_cnn", "undersampled", 1), p.value(CAT),
                       keep_args=True, stand_ins=("per_class_recall",))
AGREEMENT = 0.99  # the kernel's predictions against the checker's own: the same weights and images


@graded_test(TESTS, "recall_drop_example", lambda fresh: drop_case(fresh, "example").probe)
def drop_example(evidence):
    _one(evidence, drop_case(evidence.fresh, "example"), "recall_drop")


@graded_test(TESTS, "recall_drop_experiment", SMALL_CNN, DROP_MEASURED, lambda fresh: drop_case(fresh, "rising").probe,
             lambda fresh: drop_case(fresh, "single").probe)
def drop_experiment(evidence):
    classes = evidence.data.test_classes
    balanced = predictions(evidence, SMALL_CNN, "part6_bias", "balanced").argmax(axis=1)
    undersampled = predictions(evidence, SMALL_CNN, "part6_bias", "undersampled").argmax(axis=1)
    cats = classes == CAT
    before, after = float(np.mean(balanced[cats] == CAT)), float(np.mean(undersampled[cats] == CAT))
    line = (f"Cat recall {'fell' if before >= after else 'rose'} from {before:.3f} (balanced) to {after:.3f} "
            f"(undersampled), measured by the grader: a drop of {before - after:.3f}.")
    _one(evidence, drop_case(evidence.fresh, "rising"), "recall_drop")
    _one(evidence, drop_case(evidence.fresh, "single"), "recall_drop")
    measured = one_number(evidence, DROP_MEASURED, "recall_drop")
    given = [evidence.decode(value, DROP_MEASURED) for value in (evidence.answer(DROP_MEASURED).get("args_after") or [])[:3]]
    if len(given) != 3 or not all(isinstance(value, Returned) for value in given):
        raise Failed("the grader could not read the predictions your notebook computed")
    true_given, before_given, after_given = (value.values.reshape(-1) for value in given)
    agree = (len(true_given) == len(classes) and np.array_equal(true_given, classes)
             and len(before_given) == len(after_given) == len(classes)
             and np.mean(before_given == balanced) >= AGREEMENT and np.mean(after_given == undersampled) >= AGREEMENT)
    if not agree:
        raise Failed(f"{line}\nThe predictions in your notebook are not those of the submitted networks: run the "
                     "training cells again and submit the trained_models folder.")
    member = true_given == CAT
    reference = float(np.mean(before_given[member] == CAT) - np.mean(after_given[member] == CAT))
    if abs(measured - reference) >= 1e-9:
        raise Failed(f"{line}\nOn the predictions it was given, the cat recall fell by {reference:.4f}, so recall_drop "
                     f"should report {reference:.4f}, not {measured}.")
    return line
