"""The checker reads what a student's kernel gave it as hostile data (grading/checker/).

Hand-made answers, as a kernel that forges them would send: pickles, object arrays, oversized or
misshapen arrays, rows of a sample the grader did not ask for, models with Lambda layers or
modules of their own, weights files that are links. Each is refused with a message, never run.
"""

from __future__ import annotations

import base64
import io
import json
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

from cifar10_course import checks
from grading.protocol import harvest, messages
from grading.protocol import probes as p
from grading.checker import Failed, graded_tests, safe_models
from grading.checker.evidence import Evidence, Returned, Sample, Unanswered, load_array

PROBE = p.call("load_cifar10")


def npy(array, **kwargs) -> str:
    buffer = io.BytesIO()
    np.save(buffer, array, **kwargs)
    return base64.b64encode(buffer.getvalue()).decode()


def evidence_with(answer, tmp_path, request=None) -> Evidence:
    """Evidence whose one harvest answered PROBE with ``answer`` (a Python value, made JSON here)."""
    request = request or {"probes": [PROBE], "seed": 7, "whole_bytes": 1000, "sample_rows": 4, "file_limit": 1000}
    records = {"harvests": [{"request": request, "answer": json.dumps([answer]), "error": None}],
               "cells": {"test": {"probes": {p.key(PROBE): [0, 0]}}}}
    evidence = Evidence(records, tmp_path, data=None, workdir=tmp_path)
    evidence.grade_id = "test"
    return evidence


def test_arrays_are_read_without_pickles_objects_or_excess():
    assert load_array(npy(np.arange(6).reshape(2, 3))).tolist() == [[0, 1, 2], [3, 4, 5]]
    for hostile in (npy(np.array([{"a": 1}], dtype=object), allow_pickle=True),
                    base64.b64encode(pickle.dumps(np.arange(3))).decode(), "not base64!", 12, None):
        with pytest.raises(Failed):
            load_array(hostile)


def test_a_sample_must_hold_the_rows_the_grader_chose(tmp_path):
    full = np.arange(40, dtype="float32").reshape(20, 2)
    rows = harvest.sample_rows(20, 4, 7)
    honest = evidence_with({"ok": {"result": {"__ndarray__": npy(full[rows]), "sampled": True, "shape": [20, 2]}}}, tmp_path)
    found = honest.result(PROBE)
    assert isinstance(found, Sample) and found.rows.tolist() == rows.tolist() and found.shape == (20, 2)
    other_rows = evidence_with({"ok": {"result": {"__ndarray__": npy(full[:3]), "sampled": True, "shape": [20, 2]}}}, tmp_path)
    with pytest.raises(Failed, match="rows of an array"):
        other_rows.result(PROBE)


def test_answers_that_are_missing_malformed_or_errors_fail_with_a_message(tmp_path):
    assert evidence_with({"ok": {"result": {"__list__": [1, {"__float__": "nan"}]}}}, tmp_path).result(PROBE)[0] == 1
    with pytest.raises(Failed, match=r"load_cifar10\(\) raised NotImplementedError: it is not written yet"):
        evidence_with({"error": ["NotImplementedError", ""]}, tmp_path).result(PROBE)
    for hostile in ({"ok": "a string"}, {"ok": {"result": {"__weird__": 1}}}, {"ok": {"result": 10**400}}):
        with pytest.raises(Failed):
            evidence_with(hostile, tmp_path).result(PROBE)
    nested = {"__list__": []}
    for _ in range(20):
        nested = {"__list__": [nested]}
    with pytest.raises(Failed, match="nested too deeply"):
        evidence_with({"ok": {"result": nested}}, tmp_path).result(PROBE)
    unanswered = evidence_with({"ok": {}}, tmp_path)
    unanswered.grade_id = "another_test"
    with pytest.raises(Unanswered):
        unanswered.result(PROBE)
    forged_json = Evidence({"harvests": [{"request": {}, "answer": "[{not json", "error": None}],
                            "cells": {"t": {"probes": {p.key(PROBE): [0, 0]}}}}, tmp_path, None, tmp_path)
    forged_json.grade_id = "t"
    with pytest.raises(Unanswered):
        forged_json.result(PROBE)


def test_a_weights_file_that_is_a_link_or_too_large_is_refused(tmp_path):
    submission = tmp_path / "submission"
    (submission / "trained_models").mkdir(parents=True)
    secret = tmp_path / "gradebook.db"
    secret.write_text("grades")
    (submission / "trained_models" / "linked.weights.h5").symlink_to(secret)
    os.mkfifo(submission / "trained_models" / "pipe.weights.h5")
    (submission / "trained_models" / "big.weights.h5").write_bytes(b"0" * 2000)
    evidence = Evidence({"harvests": [], "cells": {}}, submission, None, tmp_path)
    for name, message in (("linked", "No trained weights"), ("pipe", "not a regular file"), ("big", "larger than")):
        with pytest.raises(Failed, match=message):
            evidence.submitted_file(f"trained_models/{name}.weights.h5", 1000, advice="")
    (submission / "trained_models").rename(tmp_path / "elsewhere")
    (submission / "trained_models").symlink_to(tmp_path / "elsewhere")  # a linked folder on the way
    with pytest.raises(Failed, match="No trained weights"):
        evidence.submitted_file("trained_models/big.weights.h5", 5000, advice="")


@pytest.fixture(scope="module")
def keras():
    from cifar10_course.environment import quiet_tensorflow

    return quiet_tensorflow()


def test_models_are_rebuilt_only_from_keras_own_parts(keras):
    layers = keras.layers
    lambda_model = keras.Sequential([keras.Input((4,)), layers.Lambda(lambda t: t * 2)])
    subclass = json.loads(keras.Sequential([keras.Input((4,)), layers.Dense(2)]).to_json())
    subclass["config"]["layers"][1]["module"] = "student.layers"
    registered = json.loads(keras.Sequential([keras.Input((4,)), layers.Dense(2)]).to_json())
    registered["config"]["layers"][1]["registered_name"] = "MyPackage>Dense"
    numpy_payload = json.loads(keras.Sequential([keras.Input((4,)), layers.Dense(2)]).to_json())
    numpy_payload["config"]["layers"][1]["config"]["kernel_initializer"] = {
        "class_name": "__numpy__", "config": {"value": [1], "dtype": "float32"}}
    custom_activation = json.loads(keras.Sequential([keras.Input((4,)), layers.Dense(2)]).to_json())
    custom_activation["config"]["layers"][1]["config"]["activation"] = {
        "module": "builtins", "class_name": "function", "config": "my_activation", "registered_name": "function"}
    enormous = json.loads(keras.Sequential([keras.Input((4,)), layers.Dense(2)]).to_json())
    enormous["config"]["layers"][1]["config"]["units"] = 10**9
    cases = {"Lambda": lambda_model.to_json(), "student.layers": json.dumps(subclass),
             "registered as": json.dumps(registered), "cannot read": json.dumps(numpy_payload),
             "activation": json.dumps(custom_activation), "more than the grader rebuilds": json.dumps(enormous),
             "not JSON": "{", "keras.Sequential": json.dumps({"class_name": "os.system"})}
    for message, text in cases.items():
        with pytest.raises(Failed, match=message):
            safe_models.build(text)


def test_every_way_of_writing_the_course_networks_is_rebuilt_exactly(keras, tmp_path):
    layers = keras.layers
    augmentation = keras.Sequential([layers.RandomRotation(40 / 360), layers.RandomTranslation(0.2, 0.2),
                                     layers.RandomZoom(0.2), layers.RandomFlip("horizontal"),
                                     layers.RandomShear(x_factor=0.2, y_factor=0.2)], name="augmentation")
    inner = keras.Sequential([keras.Input((32, 32, 3)), layers.Conv2D(4, (3, 3), activation="relu"), layers.Flatten(),
                              layers.Dense(10, activation="softmax")])
    inputs = keras.Input((32, 32, 3))
    functional = keras.Model(inputs, layers.Dense(10, activation="softmax")(layers.Flatten()(inputs)))
    sample, _ = checks.small_training_sample(4)
    for model in (inner, functional, keras.Sequential([keras.Input((32, 32, 3)), augmentation, inner])):
        path = tmp_path / "model.weights.h5"
        model.save_weights(path)
        rebuilt = safe_models.build(model.to_json())
        safe_models.load_weights(rebuilt, path)
        assert [type(layer).__name__ for layer in rebuilt.layers] == [type(layer).__name__ for layer in model.layers]
        assert np.array_equal(rebuilt.predict(sample, verbose=0), model.predict(sample, verbose=0))
    shear = safe_models.build(augmentation.to_json()).layers[-1]  # Keras cannot read its own description of it
    assert tuple(shear.x_factor) == (-0.2, 0.2)


def test_weights_of_another_network_are_a_mismatch(keras, tmp_path):
    small = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5)])
    other.save_weights(tmp_path / "other.weights.h5")
    with pytest.raises(safe_models.Mismatch):
        safe_models.load_weights(safe_models.build(small.to_json()), tmp_path / "other.weights.h5")


def test_a_forged_training_record_of_garbage_fails_without_crashing():
    from cifar10_course.modes import MODES

    wanted = MODES["fast"].parts["part2_mlp"]
    for record in ({}, {"fit_calls": "x"}, {"fit_calls": [{"batch_size": "many", "epochs": None, "validation_split": "a"}],
                                            "compiled": True, "learning_rate": "fast", "metrics": 3}):
        problems = checks.training_problems(record, "part2_mlp", wanted, "categorical_crossentropy")
        assert problems, record
    assert checks.history_problems({"is_history": True, "history_keys": ["loss", "acc"]}) == []


def test_every_graded_test_declares_probes_the_harvest_knows_and_makes_them_again_from_the_seed():
    for part in ("part1_data", "part2_mlp", "part3_cnn", "part4_binary", "part5_deeper", "part6_bias"):
        for test in graded_tests(part).values():
            probes = test.probes_for(p.Fresh(2**100 + 7))
            assert probes, test.grade_id
            assert all(probe["kind"] in harvest._PROBES for probe in probes), test.grade_id
            assert probes == test.probes_for(p.Fresh(2**100 + 7)), test.grade_id  # what the checker makes again


def test_fresh_inputs_are_new_at_every_grading():
    """Inputs of the tests that call a student's functions differ from one grading seed to the next,
    so an answer recorded at one grading is no answer at the next; fixed probes (a build
    function's, the data set's) get a new fresh number instead, which seeds their random inputs."""
    changed = []
    for part in ("part1_data", "part5_deeper", "part6_bias"):
        for test in graded_tests(part).values():
            one, other = test.probes_for(p.Fresh(1)), test.probes_for(p.Fresh(2))
            if one != other:
                changed.append(test.grade_id)
            for probe in one:
                assert p.fresh_value(1, probe) != p.fresh_value(2, probe), test.grade_id
    assert {"class_counts_example", "per_class_recall_cases", "balanced_accuracy_cases", "undersample_class_details",
            "oversample_class_details", "recall_drop_example"} <= set(changed), changed


def test_returned_arrays_keep_their_type(tmp_path):
    evidence = evidence_with({"ok": {"result": {"__ndarray__": npy(np.zeros(3)), "type": "tensorflow.EagerTensor"}}},
                             tmp_path)
    found = evidence.result(PROBE)
    assert isinstance(found, Returned) and found.kind == "tensorflow.EagerTensor"


def test_the_whole_data_set_in_fast_mode_is_told_to_use_the_course_loader(tmp_path):
    """keras.datasets.cifar10.load_data() returns all 50,000 images, whatever the mode."""
    from types import SimpleNamespace

    rows = harvest.sample_rows(50_000, 4, 7)
    images = {"__ndarray__": npy(np.zeros((len(rows), 32, 32, 3), "float32")), "sampled": True,
              "shape": [50_000, 32, 32, 3]}
    labels = {"__ndarray__": npy(np.eye(10, dtype="float32")[[0, 1]])}
    answer = {"ok": {"result": {"__tuple__": [images, labels, labels, labels]}}}
    evidence = evidence_with(answer, tmp_path)
    evidence.data = SimpleNamespace(train_classes=np.zeros(3000, int), test_classes=np.zeros(1000, int),
                                    mode=SimpleNamespace(name="fast"))
    with pytest.raises(Failed, match=r"all 50,000 training images(.|\n)*load_course_split\(\)"):
        graded_tests("part1_data")["load_cifar10_shapes"].check(evidence)


def test_a_model_too_big_to_check_is_refused_from_its_description_before_anything_is_allocated(keras):
    """Parameters, activations and operations per image are worked out from the description, layer
    by layer, exactly for the course's networks; beyond the limits the test fails with the numbers."""
    from grading.checker import sizes

    layers = keras.layers
    course = keras.Sequential([keras.Input((32, 32, 3)), layers.Conv2D(32, 3, padding="same"), layers.MaxPooling2D(),
                               layers.BatchNormalization(), layers.SeparableConv2D(8, 3), layers.Flatten(),
                               layers.Dense(10)])
    size = sizes.measure(json.loads(course.to_json()))
    assert size.parameters == course.count_params() and sizes.prediction_batch(size) == sizes.LARGEST_BATCH
    wide = json.loads(keras.Sequential([keras.Input((32, 32, 3)), layers.Flatten(), layers.Dense(10)]).to_json())
    dense = wide["config"]["layers"][2]
    for _ in range(2):
        wide["config"]["layers"].insert(2, {**dense, "config": {**dense["config"], "units": 20_000}})
    with pytest.raises(Failed, match=r"has 461,\d{3},\d{3} parameters; the grader measures networks of at most 60,000,000"):
        safe_models.build(json.dumps(wide))
    thick = keras.Sequential([keras.Input((32, 32, 3)), layers.Conv2D(1400, 3, padding="same"),
                              layers.Conv2D(1400, 3, padding="same")])
    with pytest.raises(Failed, match=r"costs 36\.\d GFLOP per image"):
        safe_models.build(thick.to_json())
    big = sizes.Size(1, 10_000_000, 1)  # 40 MB of activations per image: predicted a few at a time
    assert sizes.prediction_batch(big) == sizes.ACTIVATION_BUDGET_BYTES // (10_000_000 * 8) < 20


def test_a_description_is_accepted_only_if_it_computes_what_the_kernels_model_did(keras, tmp_path):
    """The kernel's model answered for random images with random weights drawn for this grading;
    a description of another model, or answers replayed from another grading, fail."""
    mlp = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10)])
    probe = p.model("build_mlp")
    seed = 2**70 + 3
    fresh = p.fresh_value(seed, probe)
    request = {"whole_bytes": 2**20, "sample_rows": 4, "seed": 1}

    def evidence(outputs) -> Evidence:
        answer = {"ok": {"json": mlp.to_json(), "compiled": False, "fresh": True,
                         "outputs": harvest.encode(outputs, request)}}
        records = {"seed": seed, "harvests": [{"request": {**request, "probes": [{**probe, "fresh": fresh}]},
                                               "answer": json.dumps([answer]), "error": None}],
                   "cells": {"test": {"probes": {p.key(probe): [0, 0]}}}}
        found = Evidence(records, tmp_path, data=None, workdir=tmp_path)
        found.grade_id = "test"
        return found

    honest = harvest.fresh_outputs(keras.models.clone_model(mlp), fresh)
    assert evidence(honest).model(probe).count_params() == mlp.count_params()
    for forged in (harvest.fresh_outputs(keras.models.clone_model(mlp), fresh + 1), honest[:, :5]):
        with pytest.raises(Failed, match="does not compute what its own description"):
            evidence(forged).model(probe)


def test_the_optimizers_state_in_a_weights_file_is_read_without_following_links(keras, tmp_path):
    import h5py

    from grading.checker.common import expected_steps, optimizer_state

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01), loss="mse")
    model.fit(np.zeros((100, 4)), np.zeros((100, 2)), batch_size=8, epochs=2, validation_split=0.2, verbose=0)
    model.save_weights(tmp_path / "trained.weights.h5")
    assert optimizer_state(tmp_path / "trained.weights.h5") == {"iterations": 20, "learning_rate": pytest.approx(0.01)}
    budget = type("Budget", (), {"epochs": 2, "batch_size": 8, "validation_split": 0.2})
    assert expected_steps(100, budget) == 20
    untrained = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    untrained.save_weights(tmp_path / "untrained.weights.h5")
    assert optimizer_state(tmp_path / "untrained.weights.h5") is None
    with h5py.File(tmp_path / "elsewhere.h5", "w") as other:
        other["vars/0"] = 7
    with h5py.File(tmp_path / "linked.weights.h5", "w") as linked:
        linked["optimizer"] = h5py.ExternalLink(str(tmp_path / "elsewhere.h5"), "/")
    assert optimizer_state(tmp_path / "linked.weights.h5") is None
    (tmp_path / "junk.weights.h5").write_bytes(b"not hdf5")
    with pytest.raises(ValueError):
        optimizer_state(tmp_path / "junk.weights.h5")


@pytest.mark.slow  # starts processes
def test_a_test_that_kills_the_checker_fails_alone(tmp_path, monkeypatch):
    """The checker dies (out of memory, say) or hangs while deciding one test: that test fails
    with why, and a new checker decides the others of the notebook."""
    from grading import verdicts

    fake = tmp_path / "checker.py"
    fake.write_text(f"""
import json, sys, time
from pathlib import Path
ANSWER = {messages.ANSWER!r}
for line in sys.stdin:
    request = json.loads(line)
    for test in request["tests"]:
        print(ANSWER + json.dumps({{"start": test}}), flush=True)
        if test == "class_counts_example" and not Path("{tmp_path}/died").exists():
            Path("{tmp_path}/died").touch()
            sys.exit(137)
        if test == "class_counts_training_labels":
            time.sleep(30)
        print(ANSWER + json.dumps({{"verdict": test, "passed": True, "message": ""}}), flush=True)
    print(ANSWER + json.dumps({{"done": request["notebook"]}}), flush=True)
""")
    monkeypatch.setattr(verdicts.Checker, "command", lambda self, submission, warm_keras: [sys.executable, str(fake)])
    checker = verdicts.Checker("fast", "")
    found = checker.check("part1_data", "records.json", tmp_path, timeout=3)
    checker.stop()
    assert {test: verdict["passed"] for test, verdict in found.items()} == {
        "load_cifar10_shapes": True, "load_cifar10_values": True, "load_cifar10_matches_data": True,
        "class_counts_example": False, "class_counts_training_labels": False}
    assert "stopped" in found["class_counts_example"]["message"]
    assert "took longer than 3 s" in found["class_counts_training_labels"]["message"]


def verdicts_in_process(part: str, functions: dict, tests: list[str], seed: int = 2**90 + 1) -> dict:
    """The checker's verdicts on ``tests`` of ``part`` for a notebook defining ``functions``: the
    harvest answering in this process (as it does in the kernel), the checker reading its answers
    (no kernel, no nbgrader: the two ends of grading, for tests that need no data set)."""
    records = {"seed": seed, "harvests": [], "cells": {}}
    for grade_id in tests:
        probes = graded_tests(part)[grade_id].probes_for(p.Fresh(seed))
        request = {"probes": [{**probe, "fresh": p.fresh_value(seed, probe)} for probe in probes], "seed": 5,
                   "whole_bytes": 2**20, "sample_rows": 16, "file_limit": 2**20}
        records["harvests"].append({"request": request, "answer": harvest.run(json.dumps(request), functions),
                                    "error": None})
        index = len(records["harvests"]) - 1
        records["cells"][grade_id] = {"probes": {p.key(probe): [index, position] for position, probe in enumerate(probes)}}
    evidence = Evidence(records, Path("/nonexistent"), data=None, workdir=Path("/nonexistent"))
    found = {}
    for grade_id in tests:
        evidence.grade_id = grade_id
        try:
            graded_tests(part)[grade_id].check(evidence)
            found[grade_id] = "passed"
        except Failed as failure:
            found[grade_id] = str(failure)
    return found


def test_a_mistake_in_per_class_recall_is_not_counted_again_in_the_functions_that_use_it():
    """balanced_accuracy and recall_drop call the student's per_class_recall; when that is wrong
    (here: 0 instead of nan for a class without images), they are graded with the task's own, so
    only per_class_recall's tests fail. And a wrong balanced_accuracy still fails its own."""
    notebook = {"harvest": harvest}  # a notebook's namespace: its functions look each other up here
    exec("""
import numpy as np
def per_class_recall(y_true, y_pred, num_classes=10):
    return np.nan_to_num(harvest.task_per_class_recall(y_true, y_pred, num_classes))
def balanced_accuracy(y_true, y_pred, num_classes=10):
    return float(np.nanmean(per_class_recall(y_true, y_pred, num_classes)))
def recall_drop(y_true, before, after, label):
    return float(per_class_recall(y_true, before)[label] - per_class_recall(y_true, after)[label])
def recall_gap(recalls):
    return float(np.nanmax(recalls) - np.nanmin(recalls))
""", notebook)
    tests = ["per_class_recall_example", "per_class_recall_cases", "balanced_accuracy_example",
             "balanced_accuracy_cases", "recall_drop_example"]
    found = verdicts_in_process("part6_bias", notebook, tests)
    assert [test for test, verdict in found.items() if verdict != "passed"] == tests[:2], found
    notebook["balanced_accuracy"] = lambda y_true, y_pred, num_classes=10: float(np.mean(np.asarray(y_true) == y_pred))
    found = verdicts_in_process("part6_bias", notebook, tests)
    assert found["balanced_accuracy_example"] != "passed" and found["recall_drop_example"] == "passed"
