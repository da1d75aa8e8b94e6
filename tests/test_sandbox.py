"""The sandbox (grading/sandbox.py) and the guarded executor (grading/execute.py, grading/guard.py)
on small hand-made notebooks: real kernels in real bubblewrap and cgroups, no nbgrader course.

Each test runs a notebook as nbgrader's autograde step would and checks what every cell got.
"""

from __future__ import annotations

import json

from conftest import require_sandbox
from nbformat.v4 import new_code_cell, new_notebook

from grading import sandbox as sb
from grading.execute import EVENTS_ENV, GuardedExecute


def graded_cell(source: str, grade_id: str):
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": grade_id, "points": 1, "locked": True, "solution": False}
    return cell


def run(tmp_path, cells, limits: sb.Limits | None = None, monkeypatch=None, protected=(), **options):
    """Execute ``cells`` in ``tmp_path/work`` (sandboxed when ``limits`` is given); return the
    cells by grade id or index, and the recorded events."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    events = tmp_path / "events.jsonl"
    monkeypatch.setenv(EVENTS_ENV, str(events))
    group = None
    if limits is not None:
        group = sb.Cgroup.create("test", limits)
        monkeypatch.setenv(sb.SANDBOX_ENV, sb.Sandbox(group.path, limits, protected=list(protected)).to_env())
    notebook = new_notebook(cells=cells)
    executor = GuardedExecute(timeout=options.pop("timeout", 20), **options)
    executor.kernel_manager_class = sb.SandboxedKernelManager
    try:
        executor.preprocess(notebook, {"metadata": {"path": str(work)}, "unique_key": "trial"})
    finally:
        if group is not None:
            group.remove()
    by_name = {cell.metadata.get("nbgrader", {}).get("grade_id", index): cell for index, cell in enumerate(notebook.cells)}
    recorded = [json.loads(line) for line in events.read_text().splitlines()] if events.exists() else []
    return by_name, recorded


def errors(cell) -> list[str]:
    return [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]


def text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def test_replaced_functions_are_put_back_before_a_test_and_zero_a_test_they_ran_in(tmp_path, monkeypatch):
    cells, events = run(tmp_path, [
        new_code_cell("import numpy as np\nimport builtins"),
        new_code_cell("np.testing.assert_allclose = lambda *a, **k: None\nbuiltins.abs = lambda x: 3"),
        graded_cell("np.testing.assert_allclose(1, 2)", "restored"),
        graded_cell("assert abs(-1) == 1", "abs_restored"),
        new_code_cell("def sneaky():\n    import numpy\n    numpy.testing.assert_allclose = lambda *a, **k: None"),
        graded_cell("sneaky()\nnp.testing.assert_allclose(1, 2)", "replaced_during_test"),
        graded_cell("np.testing.assert_allclose(1, 1)", "clean_again"),
    ], monkeypatch=monkeypatch)
    assert errors(cells["restored"])[0].startswith("AssertionError")  # NumPy's own check ran, and failed
    assert "the notebook had replaced builtins.abs, numpy.testing.assert_allclose; the originals were put back" in text(cells["restored"])
    assert errors(cells["abs_restored"]) == []
    assert errors(cells["replaced_during_test"]) == [
        "GradingIntegrityError: numpy.testing.assert_allclose was replaced while this test ran, so its result "
        "cannot be trusted and it scores 0. Tests must run with the libraries' own functions: remove the code "
        "that replaces them."]
    assert errors(cells["clean_again"]) == [] and text(cells["clean_again"]) == ""
    assert [e["replaced"] for e in events if e["event"] == "integrity"] == [
        ["builtins.abs", "numpy.testing.assert_allclose"], ["numpy.testing.assert_allclose"]]


def test_a_method_added_to_a_class_and_the_back_doors_are_refused(tmp_path, monkeypatch):
    cells, events = run(tmp_path, [
        new_code_cell("import numpy as np\nclass Fake(np.ndarray): pass\nnp.ndarray.tolist"),
        new_code_cell("import json\njson.JSONEncoder.sneaky = lambda self: 1"),  # not a protected class
        new_code_cell("import gc\ngc.get_objects()"),
        new_code_cell("import ctypes\nctypes.pythonapi.Py_IncRef(ctypes.py_object(1))"),
        new_code_cell("def f(): return 1\nf.__code__ = (lambda: 2).__code__"),
        new_code_cell("open('/proc/self/mem', 'rb')"),
        graded_cell("assert True", "after"),
    ], monkeypatch=monkeypatch)
    assert errors(cells[2]) == ["RuntimeError: gc.get_objects is not available while a notebook is graded"]
    assert errors(cells[3])[0].startswith("RuntimeError: ctypes.") and "not available while a notebook is graded" in errors(cells[3])[0]
    assert errors(cells[4]) == ["RuntimeError: replacing a function's __code__ is not allowed while a notebook is graded"]
    assert errors(cells[5]) == ["RuntimeError: opening a process's memory is not allowed while a notebook is graded"]
    assert errors(cells["after"]) == [] and not [e for e in events if e["event"] == "integrity"]


def test_a_notebook_that_breaks_its_kernel_gets_a_fresh_one_for_the_next_test(tmp_path, monkeypatch):
    cells, events = run(tmp_path, [
        new_code_cell("get_ipython().run_cell = lambda *args, **kwargs: None"),
        graded_cell("assert False, 'this test must run, and fail'", "runs_in_a_fresh_kernel"),
    ], monkeypatch=monkeypatch)
    assert errors(cells["runs_in_a_fresh_kernel"]) == ["AssertionError: this test must run, and fail"]
    assert [e["event"] for e in events] == ["integrity", "kernel_broken"]


def test_a_dead_kernel_is_graded_as_it_is_and_the_notebook_goes_on(tmp_path, monkeypatch):
    require_sandbox()
    cells, events = run(tmp_path, [
        new_code_cell("x = 1"),
        new_code_cell("hog = []\nwhile True:\n    hog.append(bytearray(50_000_000))"),
        graded_cell("assert 'x' not in globals(), 'a new kernel has no old state'", "fresh_kernel"),
        new_code_cell("while True:\n    pass"),  # 3 CPU seconds allowed; the cell timeout is 20 s
        graded_cell("print('still graded')", "after_cpu_limit"),
        new_code_cell("import os\nos._exit(1)"),
        graded_cell("print('never runs')", "after_third_death"),
    ], limits=sb.Limits(memory_mb=512, cpu_seconds=3), monkeypatch=monkeypatch)
    assert errors(cells[1]) == ["KernelDied: The kernel died while running this cell: it ran out of memory: a submission "
                                "may use at most 512 MB (look for data copied many times, or a list or array that "
                                "keeps growing)."]
    assert errors(cells["fresh_kernel"]) == []
    assert errors(cells[3]) == ["KernelDied: The kernel died while running this cell: it used more than 3 s of CPU time "
                                "in one notebook."]
    assert text(cells["after_cpu_limit"]) == "still graded\n"
    assert errors(cells[5])[0].startswith("KernelDied")
    assert errors(cells["after_third_death"]) == [
        "NotRun: the kernel died 3 times in this notebook, so the cells after the last death did not run"]
    assert [e["event"] for e in events] == ["kernel_death"] * 3


def test_the_sandbox_hides_the_machine_and_limits_files(tmp_path, monkeypatch):
    require_sandbox()
    secret = tmp_path / "secret.txt"
    secret.write_text("hidden tests")
    (tmp_path / "work" / "cifar10_course").mkdir(parents=True)
    probe = (
        "import os, socket\n"
        f"print('secret', os.path.exists({str(secret)!r}))\n"
        "print('uid', os.getuid())\n"
        "print('pids', sorted(int(p) for p in os.listdir('/proc') if p.isdigit())[:3])\n"
        "try:\n    socket.create_connection(('1.1.1.1', 53), timeout=2)\nexcept OSError as e:\n    print('net', type(e).__name__)\n"
        "open('mine.txt', 'w').write('ok')\n"
        "try:\n    open('cifar10_course/checks.py', 'w')\nexcept OSError as e:\n    print('package', e.strerror)\n"
        "try:\n    open('big.bin', 'wb').write(b'0' * 2_000_000)\nexcept OSError as e:\n    print('big', e.strerror)\n"
    )
    cells, _ = run(tmp_path, [new_code_cell(probe)], limits=sb.Limits(file_mb=1), monkeypatch=monkeypatch,
                   protected=["cifar10_course"])
    output = text(cells[0])
    assert "secret False" in output and "uid 65534" in output and "net OSError" in output
    assert "package Read-only file system" in output and "big File too large" in output
    assert "pids [1, 2" in output  # its own PID namespace: bubblewrap's init, then the kernel
    assert (tmp_path / "work" / "mine.txt").read_text() == "ok"  # its own folder is writable


def test_output_is_capped_and_the_notebook_budget_stops_the_rest(tmp_path, monkeypatch):
    cells, events = run(tmp_path, [
        new_code_cell("for line in range(100_000):\n    print('x' * 100)"),
        new_code_cell("import time\ntime.sleep(6)"),
        graded_cell("print('too late')", "late"),
    ], monkeypatch=monkeypatch, max_output_bytes=1_000_000, notebook_budget=5)
    kept = sum(len(o.get("text", "")) for o in cells[0].outputs)
    assert kept < 1_100_000 and "output truncated" in cells[0].outputs[-1].text
    assert errors(cells["late"]) == ["NotRun: the notebook used up its time budget of 5 s, so this cell and the ones "
                                     "after it did not run"]
    assert [e["event"] for e in events] == ["output_truncated", "notebook_budget"]
