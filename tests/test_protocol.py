"""The channels between the grader's processes (grading.protocol), each read back as written and
each refusing what it must not accept."""

from __future__ import annotations

import base64
import io
import json
import pickle

import numpy as np
import pytest

from grading.protocol import codec, messages, records, results


def test_the_codec_gives_back_what_it_was_given():
    value = [np.arange(6, dtype="int16").reshape(2, 3), 0.1 + 0.2, (1, "two", [3.5, None]), {"plain": True}]
    back = codec.decode(json.loads(json.dumps(codec.encode(value))))
    assert isinstance(back, list) and isinstance(back[2], tuple) and isinstance(back[2][2], list)
    assert np.array_equal(back[0], value[0]) and back[0].dtype == np.int16
    assert back[1] == value[1] and back[2] == (1, "two", [3.5, None]) and back[3] == {"plain": True}


def test_an_untrusted_array_is_refused_when_it_is_a_pickle_holds_objects_or_is_too_large():
    assert np.array_equal(codec.load_array(codec.array_text(np.ones(4)), 1000), np.ones(4))
    with pytest.raises(ValueError, match="too large"):
        codec.load_array(codec.array_text(np.ones(1000)), 100)
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    for hostile in (base64.b64encode(buffer.getvalue()).decode(), base64.b64encode(pickle.dumps([1])).decode(),
                    "not base64!", 42):
        with pytest.raises(ValueError):
            codec.load_array(hostile, 10_000)


def test_the_harvest_encodes_in_the_codecs_tags():
    from grading.protocol import harvest

    request = {"whole_bytes": 10**6, "sample_rows": 3, "seed": 1}
    encoded = harvest.encode([np.float32(1.5), (2.5,), object()], request)
    assert encoded[harvest.LIST][1] == {codec.TUPLE: [{codec.FLOAT: "2.5"}]}
    assert encoded[harvest.LIST][2] == {codec.OBJECT: "builtins.object"}
    assert codec.load_array(encoded[harvest.LIST][0][codec.ARRAY], 1000) == np.float32(1.5)


def test_checker_messages_are_read_back_and_other_lines_ignored():
    assert messages.read(messages.start("t1")) == ("start", "t1", {})
    assert messages.read(messages.verdict("t1", {"passed": False, "message": "why"})) == (
        "verdict", "t1", {"passed": False, "message": "why"})
    assert messages.read(messages.done("part1_data")) == ("done", "part1_data", {})
    for other in ("a log line\n", messages.ANSWER + "{not json\n", messages.ANSWER + "[1]\n",
                  messages.ANSWER + json.dumps({"verdict": 3}) + "\n"):
        assert messages.read(other) is None
    assert messages.read_request(messages.request("part1_data", "r.json", "/s", ["t1"])) == {
        "notebook": "part1_data", "records": "r.json", "submission": "/s", "tests": ["t1"]}


def test_records_and_events_are_read_back(tmp_path, monkeypatch):
    path = tmp_path / "part1_data.json"
    records.write_records(path, {"seed": 7, "harvests": [], "cells": {}})
    assert records.read_records(path) == {"seed": 7, "harvests": [], "cells": {}}
    path.write_text("[1, 2]")
    with pytest.raises(ValueError):
        records.read_records(path)
    path.write_text(json.dumps({"seed": "x" * records.MAX_RECORDS_BYTES}))
    with pytest.raises(ValueError):  # cut at the limit: no longer JSON
        records.read_records(path)
    events = tmp_path / "events.jsonl"
    assert records.read_events(events) == []
    monkeypatch.setenv(records.EVENTS_ENV, str(events))
    records.record_event("kernel_death", "part1_data", reason="it ran out of memory")
    records.record_event("cell_timeout", "part2_mlp")
    assert records.read_events(events) == [
        {"event": "kernel_death", "notebook": "part1_data", "reason": "it ran out of memory"},
        {"event": "cell_timeout", "notebook": "part2_mlp"}]


def test_a_grading_process_result_is_read_back_and_a_missing_or_broken_one_reads_empty(tmp_path):
    request = results.prepare_request(tmp_path / "staged", ["part1_data"], tmp_path / "release")
    assert results.read_prepare_request(request) == (tmp_path / "staged", ["part1_data"], tmp_path / "release")
    assert results.read_prepare_request(results.prepare_request(tmp_path, [], None))[2] is None
    path = tmp_path / "result.json"
    assert results.read_result(path) == {}
    results.write_result(path, {"exit": 0, "restored": ["cell-1"]})
    assert results.read_result(path) == {"exit": 0, "restored": ["cell-1"]}
    for broken in ("{", "[1]"):
        path.write_text(broken)
        assert results.read_result(path) == {}


def test_progress_is_read_back_and_a_missing_or_broken_file_reads_as_none(tmp_path):
    from grading.protocol import progress

    path = tmp_path / "progress.json"
    assert progress.read_progress(path) is None
    progress.write_progress(path, {"pid": 1, "total": 3, "done": 1, "failed": 0})
    assert progress.read_progress(path) == {"pid": 1, "total": 3, "done": 1, "failed": 0}
    assert not path.with_name("progress.json.new").exists()
    path.write_text("[1]")
    assert progress.read_progress(path) is None
