"""Part 6's graded tests: per-class recall, balanced accuracy, recall gap, under- and oversampling,
and the recall drop measured on the submitted networks."""

from __future__ import annotations

import numpy as np

from grading import probes as p
from grading.checker import Failed, graded_test
from grading.checker.common import kind_of, numbers, predictions, returned_values
from grading.checker.evidence import Returned

TESTS: dict = {}
CAT = 3


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

RECALL_EXAMPLE = recall_call([0, 0, 1, 1, 1, 2], [0, 1, 1, 1, 0, 2], 4)
RECALL_CASES = [
    # y_true, y_pred, num_classes (None: the default), expected recalls, what the case is about
    ([1, 1, 0, 0], [1, 0, 0, 0], 2, [1.0, 0.5], "two classes, one image of class 1 missed"),
    ([0, 1, 2, 0, 1, 2], [0, 1, 2, 0, 1, 2], 3, [1.0, 1.0, 1.0], "every prediction correct"),
    ([0, 0, 1, 1], [0, 0, 0, 0], 2, [1.0, 0.0], "class 1 is never predicted, so its recall is 0"),
    ([0, 0, 2, 2], [0, 1, 2, 2], 3, [0.5, np.nan, 1.0],
     "class 1 has no images (though it is predicted once), so its recall is nan"),
    ([3, 3, 3, 1], [3, 1, 3, 1], 5, [np.nan, 1.0, np.nan, 2 / 3, np.nan], "classes 0, 2 and 4 have no images"),
    (list(range(10)) * 3, [0] * 30, None, [1.0] + [0.0] * 9,
     "the default num_classes=10, with every image predicted as class 0"),
]
RECALL_PROBES = [recall_call(t, y, n) for t, y, n, _, _ in RECALL_CASES]


@graded_test(TESTS, "per_class_recall_example", RECALL_EXAMPLE)
def recall_example(evidence):
    found = numbers(evidence.result(RECALL_EXAMPLE), "What per_class_recall returns")
    if found.shape != (4,):
        raise Failed("With num_classes=4, per_class_recall should return 4 recalls, one per class, "
                     f"not an array of shape {found.shape}.")
    if not np.allclose(found.astype(float), [0.5, 2 / 3, 1.0, np.nan], equal_nan=True):
        raise Failed("The recalls should be [0.5, 0.667, 1.0, nan] (class 3 has no images, so nan), "
                     f"but are {np.round(found.astype(float), 3)}.")


@graded_test(TESTS, "per_class_recall_cases", *RECALL_PROBES)
def recall_cases(evidence):
    for probe, (y_true, y_pred, classes, expected, about) in zip(RECALL_PROBES, RECALL_CASES):
        call = f"per_class_recall({y_true}, {y_pred}" + ("" if classes is None else f", num_classes={classes}") + ")"
        found = numbers(evidence.result(probe), f"What {call} returns")
        if found.shape != (len(expected),):
            raise Failed(f"{call} should return {len(expected)} recalls ({about}), not an array of shape {found.shape}.")
        if not np.issubdtype(found.dtype, np.floating):
            raise Failed(f"{call} should return floats (recalls are shares, and nan is a float), not {found.dtype}.")
        if not np.allclose(found, expected, equal_nan=True):
            raise Failed(f"{call} should be {np.round(expected, 3)} ({about}), but is {np.round(found.astype(float), 3)}.")


# -- Task 6.2: balanced_accuracy and recall_gap ------------------------------------------------------

ALWAYS_ZERO = balanced_call([0] * 8 + [1] * 2, [0] * 10, 2)
GAP_EXAMPLE = gap_call(np.array([1.0, 0.0]))
BALANCED_CASES = [
    ([0, 0, 2, 2], [0, 1, 2, 2], 3, 0.75, "class 1 has no images, so the mean is over classes 0 and 2: (0.5 + 1.0) / 2"),
    ([0, 1, 2, 0, 1, 2], [0, 1, 2, 0, 1, 2], 3, 1.0, "every prediction correct"),
    ([0, 0, 0, 1], [0, 0, 0, 0], 2, 0.5, "recalls 1.0 and 0.0, although 3 of 4 images are right"),
    ([0] * 6 + [1] * 3 + [2], [0] * 6 + [1, 0, 0] + [2], 3, (1 + 1 / 3 + 1) / 3, "recalls 1.0, 1/3 and 1.0"),
    (list(range(10)) * 2, list(range(10)) + [0] * 10, None, 0.55,
     "the default num_classes=10: class 0 has recall 1.0, classes 1-9 have 0.5"),
]
BALANCED_PROBES = [balanced_call(t, y, n) for t, y, n, _, _ in BALANCED_CASES]
GAP_OF_TWO = gap_call([0.25, 0.75])
GAP_CASES = [
    ([0.2, 0.9, np.nan, 0.5], 0.7, "the nan is ignored: 0.9 - 0.2"),
    (np.array([0.4]), 0.0, "a single class: no gap"),
    (np.array([np.nan, 0.3, 0.3]), 0.0, "equal recalls and a nan"),
    (np.array([0.9, 0.1, 0.5, 0.6]), 0.8, "0.9 - 0.1, whatever the order"),
]
GAP_PROBES = [gap_call(recalls) for recalls, _, _ in GAP_CASES]


@graded_test(TESTS, "balanced_accuracy_example", ALWAYS_ZERO, GAP_EXAMPLE)
def balanced_example(evidence):
    found = one_number(evidence, ALWAYS_ZERO, "balanced_accuracy")
    if not np.isclose(found, 0.5):
        raise Failed("The recalls are 1.0 (class 0) and 0.0 (class 1), so balanced_accuracy should be their mean, "
                     f"0.5, not {found}.")
    gap = one_number(evidence, GAP_EXAMPLE, "recall_gap")
    if not np.isclose(gap, 1.0):
        raise Failed(f"recall_gap([1.0, 0.0]) should be 1.0 - 0.0 = 1.0, not {gap}.")


@graded_test(TESTS, "balanced_accuracy_cases", *BALANCED_PROBES, GAP_OF_TWO, *GAP_PROBES)
def balanced_cases(evidence):
    for probe, (y_true, y_pred, _, expected, about) in zip(BALANCED_PROBES, BALANCED_CASES):
        found = one_number(evidence, probe, "balanced_accuracy")
        if not np.isclose(found, expected):
            raise Failed(f"balanced_accuracy({y_true}, {y_pred}) should be {expected:.4f} ({about}), but is {found}.")
    gap = one_number(evidence, GAP_OF_TWO, "recall_gap")
    if not np.isclose(gap, 0.5):
        raise Failed(f"recall_gap([0.25, 0.75]) should be 0.5, not {gap}.")
    for probe, (recalls, expected, about) in zip(GAP_PROBES, GAP_CASES):
        found = one_number(evidence, probe, "recall_gap")
        if not np.isclose(found, expected):
            raise Failed(f"recall_gap({list(recalls)}) should be {expected} ({about}), but is {found}.")


# -- Task 6.3: undersample_class -------------------------------------------------------------------

Y_SOURCE = np.tile(np.arange(10), 20)  # 200 labels: 0, 1, ..., 9, 0, 1, ...
X_SOURCE = np.repeat(np.arange(200, dtype="float32"), 12).reshape(200, 2, 2, 3)  # image i is all i


def under_call(label, fraction, seed=None, keep_args=False) -> dict:
    keywords = {} if seed is None else {"seed": p.value(seed)}
    return p.call("undersample_class", p.value(X_SOURCE), p.value(Y_SOURCE), p.value(label), p.value(fraction),
                  keywords=keywords, keep_args=keep_args)


UNDER_COUNTS = under_call(3, 0.1)
UNDER_CASES = [(7, 0.0, 0), (7, 0.1, 2), (7, 0.25, 5), (7, 0.33, 7), (7, 0.65, 13), (7, 1.0, 20), (0, 0.5, 10), (9, 0.35, 7)]
UNDER_PROBES = [under_call(label, fraction, seed=1, keep_args=True) for label, fraction, _ in UNDER_CASES]
UNDER_SEEDS = {seed: under_call(7, 0.5, seed=seed) for seed in (0, 1, 2)}
UNDER_DEFAULT = under_call(7, 0.5)
UNDER_BAD = {fraction: under_call(7, fraction) for fraction in (-0.1, 1.5)}


def kept(evidence, probe: dict, about: str) -> tuple[np.ndarray, np.ndarray]:
    """The images and labels undersample_class returned, as arrays of the same length."""
    x_kept, y_kept = (numbers(value, f"What undersample_class returns for {about}")
                      for value in returned_values(evidence, probe, ("x_kept", "y_kept"), "undersample_class"))
    if len(x_kept) != len(y_kept):
        raise Failed(f"undersample_class returned {len(x_kept)} images but {len(y_kept)} labels; they should match.")
    return x_kept, y_kept


def kept_indices(evidence, probe: dict, about: str) -> np.ndarray:
    """The original index of every returned image (image i holds the value i), after checking it."""
    x_result, y_result = kept(evidence, probe, about)
    if x_result.shape[1:] != (2, 2, 3):
        raise Failed(f"For {about}, undersample_class should return images of shape (n, 2, 2, 3) and n labels, "
                     f"not {x_result.shape} and {y_result.shape}.")
    found = x_result[:, 0, 0, 0].astype(int)
    if np.any((found < 0) | (found >= 200)) or not np.array_equal(x_result, X_SOURCE[np.clip(found, 0, 199)]):
        raise Failed(f"For {about}, the returned images should be unchanged copies of images of x.")
    if not np.array_equal(y_result, Y_SOURCE[found]):
        raise Failed(f"For {about}, each returned label should be the label of its image: x and y are out of step.")
    if not np.all(np.diff(found) > 0):
        raise Failed(f"For {about}, the images should keep their original order, without repeats; "
                     f"the first of their original positions are {found[:12].tolist()}.")
    return found


@graded_test(TESTS, "undersample_class_counts", UNDER_COUNTS)
def under_counts(evidence):
    _, y_kept = kept(evidence, UNDER_COUNTS, "label=3, fraction=0.1")
    counts = np.bincount(y_kept.astype(int), minlength=10)
    if counts[3] != 2:
        raise Failed(f"Class 3 has 20 images, so a fraction of 0.1 should keep round(0.1 * 20) = 2 of them, not {counts[3]}.")
    if not np.all(np.delete(counts, 3) == 20):
        raise Failed(f"Every other class should keep all of its 20 images; the counts per class are {counts}.")


@graded_test(TESTS, "undersample_class_details", *UNDER_PROBES, *UNDER_SEEDS.values(), UNDER_DEFAULT, *UNDER_BAD.values())
def under_details(evidence):
    for probe, (label, fraction, expected) in zip(UNDER_PROBES, UNDER_CASES):
        about = f"label={label}, fraction={fraction}"
        found = kept_indices(evidence, probe, about)
        counts = np.bincount(Y_SOURCE[found], minlength=10)
        if counts[label] != expected:
            raise Failed(f"With {about}, class {label} should keep round({fraction} * 20) = {expected} of its 20 images, "
                         f"not {counts[label]}.")
        if not np.all(np.delete(counts, label) == 20):
            raise Failed(f"With {about}, every other class should keep all 20 images; counts: {counts}.")
        after = evidence.answer(probe).get("args_after") or [None, None]
        unchanged = [evidence.decode(value, probe) for value in after[:2]]
        if not all(isinstance(value, Returned) for value in unchanged) or not (
                np.array_equal(unchanged[0].values, X_SOURCE) and np.array_equal(unchanged[1].values, Y_SOURCE)):
            raise Failed("undersample_class changed the x or y it was given; it should return new arrays and leave its "
                         "inputs as they were.")
    chosen = {seed: tuple(i for i in kept_indices(evidence, probe, f"seed={seed}") if Y_SOURCE[i] == 7)
              for seed, probe in UNDER_SEEDS.items()}
    if len(set(chosen.values())) == 1:
        raise Failed("Seeds 0, 1 and 2 all kept the same images of class 7; the choice should be random, made "
                     "with np.random.default_rng(seed).")
    default = tuple(i for i in kept_indices(evidence, UNDER_DEFAULT, "seed=0 (default)") if Y_SOURCE[i] == 7)
    if default != chosen[0]:
        raise Failed("The default seed should be 0: undersample_class(x, y, 7, 0.5) should keep the same images as "
                     "undersample_class(x, y, 7, 0.5, seed=0).")
    for fraction, probe in UNDER_BAD.items():
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

X_WIDE = X_SOURCE.astype("float64")


def over_call(x, label, target, seed=None, keep_args=False) -> dict:
    keywords = {} if seed is None else {"seed": p.value(seed)}
    return p.call("oversample_class", p.value(x), p.value(Y_SOURCE), p.value(label), p.value(target), p.recorder(),
                  keywords=keywords, keep_args=keep_args)


OVER_COUNT = over_call(X_SOURCE, 3, 50)
OVER_GROWN = over_call(X_WIDE, 3, 70, keep_args=True)
OVER_SEED0 = over_call(X_WIDE, 3, 70, seed=0)
OVER_SEED1 = over_call(X_WIDE, 3, 70, seed=1)
OVER_FULL = {target: over_call(X_WIDE, 5, target) for target in (20, 10)}


def grown(evidence, probe: dict) -> tuple[np.ndarray, np.ndarray]:
    x_new, y_new = (numbers(value, "What oversample_class returns")
                    for value in returned_values(evidence, probe, ("x_new", "y_new"), "oversample_class"))
    return x_new, y_new


@graded_test(TESTS, "oversample_class_count", OVER_COUNT)
def over_count(evidence):
    x_more, y_more = grown(evidence, OVER_COUNT)
    if len(x_more) != len(y_more):
        raise Failed(f"oversample_class returned {len(x_more)} images but {len(y_more)} labels; they should match.")
    counts = np.bincount(y_more.astype(int), minlength=10)
    if counts[3] != 50:
        raise Failed(f"Class 3 should end up with 50 images (20 + 30 copies), not {counts[3]}.")
    if not np.all(np.delete(counts, 3) == 20):
        raise Failed(f"Every other class should keep exactly its 20 images; the counts per class are {counts}.")


@graded_test(TESTS, "oversample_class_details", OVER_GROWN, OVER_SEED0, OVER_SEED1, *OVER_FULL.values())
def over_details(evidence):
    x_grown, y_grown = grown(evidence, OVER_GROWN)
    if x_grown.dtype != np.float32:
        raise Failed("oversample_class should return float32 images, whatever the type of x; x was float64 here and "
                     f"the result is {x_grown.dtype}.")
    if not len(x_grown) == len(y_grown) == 250:
        raise Failed("Class 3 has 20 images and should reach 70, so 50 copies should be added to the 200 images (drawing "
                     f"with replacement); the result has {len(x_grown)} images and {len(y_grown)} labels.")
    if not (np.array_equal(x_grown[:200], X_WIDE) and np.array_equal(y_grown[:200], Y_SOURCE)):
        raise Failed("The first 200 images and labels returned should be x and y themselves, unchanged and in order; "
                     "the copies go after them.")
    if not np.all(y_grown[200:] == 3):
        raise Failed(f"Every added image should be labelled 3; found {y_grown[200:]}.")
    flags = [evidence.decode(flag, OVER_GROWN) for flag in evidence.answer(OVER_GROWN).get("recorder_flags") or []]
    if not flags:
        raise Failed("oversample_class should pass the drawn images through augment(batch, training=True), but it "
                     "never called augment.")
    if not all(flag is True for flag in flags):
        raise Failed("augment should be called with training=True (Keras's random layers do nothing otherwise); "
                     f"the calls had training={flags}.")
    sources = np.rint(x_grown[200:, 0, 0, 0] - 1000).astype(int)
    valid = np.clip(sources, 0, 199)
    if not (np.all((sources >= 0) & (sources < 200)) and np.all(Y_SOURCE[valid] == 3)
            and np.allclose(x_grown[200:] - 1000, X_WIDE[valid])):
        raise Failed("Each added image should be an image of class 3 passed through augment (which adds 1000 here); "
                     "some are not.")
    if len(set(sources.tolist())) <= 1:
        raise Failed("The copies should come from randomly drawn images of class 3, not all from one image.")
    after = [evidence.decode(value, OVER_GROWN) for value in (evidence.answer(OVER_GROWN).get("args_after") or [None])[:2]]
    if not (len(after) == 2 and all(isinstance(v, Returned) for v in after)
            and np.array_equal(after[0].values, X_WIDE) and np.array_equal(after[1].values, Y_SOURCE)):
        raise Failed("oversample_class changed the x or y it was given; it should leave its inputs as they were.")
    again, _ = grown(evidence, OVER_SEED0)
    if not np.array_equal(again, x_grown):
        raise Failed("The default seed should be 0, and the same seed should draw the same images: call "
                     "np.random.default_rng(seed) inside the function.")
    other, _ = grown(evidence, OVER_SEED1)
    if np.array_equal(other, x_grown):
        raise Failed("Seeds 0 and 1 drew exactly the same images; the draw should be random, made with "
                     "np.random.default_rng(seed).")
    for target, probe in OVER_FULL.items():
        raised = evidence.raised(probe)
        if raised is not None:
            raise Failed(f"Class 5 already has 20 images, so oversample_class(x, y, 5, {target}, augment) should add "
                         f"nothing, but it failed with {raised[0]}: {raised[1]}")
        x_full, y_full = grown(evidence, probe)
        if not len(x_full) == len(y_full) == 200:
            raise Failed(f"Class 5 already has 20 images, so asking for {target} should add nothing; the result has "
                         f"{len(x_full)} images.")


# -- Task 6.5: recall_drop ---------------------------------------------------------------------------

def drop_call(y_true, before, after, label) -> dict:
    return p.call("recall_drop", p.value(np.array(y_true)), p.value(np.array(before)), p.value(np.array(after)),
                  p.value(label))


DROP_EXAMPLE = drop_call([3, 3, 3, 3, 5, 5], [3, 3, 3, 5, 5, 5], [3, 5, 5, 5, 5, 5], 3)
DROP_RISING = drop_call([1, 1, 2, 2], [1, 2, 2, 2], [1, 1, 2, 2], 1)
DROP_SINGLE = drop_call([0, 1, 1, 1, 1], [0, 1, 1, 1, 1], [1, 1, 1, 1, 0], 0)
SMALL_CNN = p.model("build_small_cnn")
DROP_MEASURED = p.call("recall_drop", p.saved_predictions("part6_bias", "build_small_cnn", "balanced", 0),
                       p.saved_predictions("part6_bias", "build_small_cnn", "balanced", 1),
                       p.saved_predictions("part6_bias", "build_small_cnn", "undersampled", 1), p.value(CAT),
                       keep_args=True)
AGREEMENT = 0.99  # the kernel's predictions against the checker's own: the same weights and images


@graded_test(TESTS, "recall_drop_example", DROP_EXAMPLE)
def drop_example(evidence):
    found = one_number(evidence, DROP_EXAMPLE, "recall_drop")
    if not np.isclose(found, 0.5):
        raise Failed("Class 3 has four images: three are found before and one after, so the recall falls from 0.75 to "
                     f"0.25 and recall_drop should be 0.5, not {found}.")


@graded_test(TESTS, "recall_drop_experiment", SMALL_CNN, DROP_MEASURED, DROP_RISING, DROP_SINGLE)
def drop_experiment(evidence):
    classes = evidence.data.test_classes
    balanced = predictions(evidence, SMALL_CNN, "part6_bias", "balanced").argmax(axis=1)
    undersampled = predictions(evidence, SMALL_CNN, "part6_bias", "undersampled").argmax(axis=1)
    cats = classes == CAT
    before, after = float(np.mean(balanced[cats] == CAT)), float(np.mean(undersampled[cats] == CAT))
    line = (f"Cat recall {'fell' if before >= after else 'rose'} from {before:.3f} (balanced) to {after:.3f} "
            f"(undersampled), measured by the grader: a drop of {before - after:.3f}.")
    rising = one_number(evidence, DROP_RISING, "recall_drop")
    if not np.isclose(rising, -0.5):
        raise Failed(f"When the recall rises (here from 0.5 to 1.0), recall_drop should be negative, -0.5, not {rising}.")
    single = one_number(evidence, DROP_SINGLE, "recall_drop")
    if not np.isclose(single, 1.0):
        raise Failed("recall_drop should look only at the images of the class asked about (class 0 here, whose recall "
                     f"falls from 1.0 to 0.0), so it should be 1.0, not {single}.")
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
