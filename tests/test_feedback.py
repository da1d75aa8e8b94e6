"""The feedback filter removes hidden-test code and tracebacks, and nothing else."""

from __future__ import annotations

import nbformat

from grading.feedback import NOTE, HideHiddenTests, hide_hidden_tests

CELL = '''"""Check the layers of the model"""
model = build()
assert model.ok, "visible check"
### BEGIN HIDDEN TESTS
assert secret_threshold(model) > 0.5, "hidden message"
### END HIDDEN TESTS
print("done")'''


def test_hidden_region_is_replaced_by_a_note():
    shown = hide_hidden_tests(CELL)
    assert "secret_threshold" not in shown and "BEGIN HIDDEN" not in shown
    assert shown.startswith('"""Check the layers of the model"""') and 'print("done")' in shown
    assert NOTE in shown


def test_failed_hidden_test_keeps_its_message_but_not_its_traceback():
    cell = nbformat.v4.new_code_cell(CELL)
    cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="hidden message",
                                           traceback=["Cell In[3], line 5", "----> 5 assert secret_threshold(model) > 0.5"])]
    processed, _ = HideHiddenTests().preprocess_cell(cell, {}, 0)
    assert processed.outputs[0].traceback == ["AssertionError: hidden message"]
    assert "secret_threshold" not in str(processed)


def test_cells_without_hidden_tests_are_untouched():
    cell = nbformat.v4.new_code_cell('assert f(1) == 2, "visible"')
    cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="visible", traceback=["tb"])]
    processed, _ = HideHiddenTests().preprocess_cell(cell, {}, 0)
    assert processed.source == 'assert f(1) == 2, "visible"' and processed.outputs[0].traceback == ["tb"]
