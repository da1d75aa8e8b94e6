"""The sandbox (grading/sandbox/) and the executor (grading/execute.py) on small hand-made
notebooks: real kernels in real bubblewrap, cgroups (or the watchdog) and private mounts, no
nbgrader course.

Each test runs a notebook as nbgrader's autograde step would and checks what every cell got.
cgroup v2 cannot run on this machine (its only v2 hierarchy has no memory or pids controller), so
its test points the backend at a fake cgroupfs of plain files.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import zmq
from conftest import PACKAGE_PARENT, require_sandbox
from jupyter_client.provisioning import KernelProvisionerFactory
from nbformat.v4 import new_code_cell, new_notebook

import grading
from grading import checker
from grading import sandbox as sb
from grading import execute
from grading.execute import GuardedExecute
from grading.protocol.records import EVENTS_ENV, records_folder
from grading.protocol.results import PREPARE_ENV, prepare_request
from grading.verdicts import Checker
from grading.sandbox import kernels, preflight


def graded_cell(source: str, grade_id: str):
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": grade_id, "points": 1, "locked": True, "solution": False}
    return cell


def run(tmp_path, cells, limits: sb.Limits | None = None, monkeypatch=None, read_only=(), way="auto",
        notebook_name="trial", **options):
    """Execute ``cells`` (the notebook ``notebook_name``) in ``tmp_path/work`` (sandboxed when ``limits`` is given, with limits
    enforced the ``way`` given, showing ``read_only`` too); return the cells by grade id or index,
    the recorded events and the bounds' counters at the end."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    events = tmp_path / "events.jsonl"
    monkeypatch.setenv(EVENTS_ENV, str(events))
    group, counters = None, {}
    if limits is not None:
        group = sb.choose(way).create("test", limits, tmp_path)
        monkeypatch.setenv(sb.SANDBOX_ENV, sb.Sandbox(group.to_dict(), limits, [str(p) for p in read_only]).to_env())
    notebook = new_notebook(cells=cells)
    executor = GuardedExecute(timeout=options.pop("timeout", 20), sandbox_required=limits is not None, **options)
    executor.kernel_manager_class = sb.SandboxedKernelManager
    try:
        executor.preprocess(notebook, {"metadata": {"path": str(work)}, "unique_key": notebook_name})
    finally:
        if group is not None:
            counters = group.counters()
            group.remove()
    by_name = {cell.metadata.get("nbgrader", {}).get("grade_id", index): cell for index, cell in enumerate(notebook.cells)}
    recorded = [json.loads(line) for line in events.read_text().splitlines()] if events.exists() else []
    # Last, the notebook's time by phase (the grading's breakdown); the tests read the others.
    assert recorded and recorded[-1]["event"] == "phases" and recorded[-1]["seconds"]["kernel starts"] > 0, recorded
    return by_name, recorded[:-1], counters


def errors(cell) -> list[str]:
    return [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]


def text(cell) -> str:
    return "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in cell.outputs
                   if o.output_type in ("stream", "display_data"))


@pytest.mark.slow
def test_a_dead_kernel_is_graded_as_it_is_and_the_notebook_goes_on(tmp_path, monkeypatch):
    require_sandbox()
    cells, events, _ = run(tmp_path, [
        new_code_cell("x = 1"),
        new_code_cell("hog = []\nwhile True:\n    hog.append(bytearray(50_000_000))"),
        graded_cell("assert 'x' not in globals(), 'a new kernel has no old state'", "fresh_kernel"),
        new_code_cell("while True:\n    pass"),  # 6 CPU seconds allowed; the cell timeout is 20 s
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


@pytest.mark.slow
def test_the_next_notebooks_kernel_starts_ahead_as_a_new_process_with_tensorflow_imported(tmp_path, monkeypatch):
    """While a notebook is being checked, the kernel of the submission's next notebook (a part with
    a network) starts and imports TensorFlow: a new process, inside the same bounds, that never saw
    the previous notebook's state. Nothing is left running after the last notebook."""
    require_sandbox()
    work = tmp_path / "work"
    work.mkdir()
    for name in ("part1_data", "part2_mlp"):
        (work / f"{name}.ipynb").write_text("{}")
    shutil.copytree(PACKAGE_PARENT / "cifar10_course", work / "cifar10_course")  # beside the notebooks, as released
    monkeypatch.setenv(PREPARE_ENV, prepare_request(work, ["part1_data", "part2_mlp"], None))
    monkeypatch.setenv(EVENTS_ENV, str(tmp_path / "events.jsonl"))
    limits = sb.Limits()
    group = sb.choose("auto").create("test", limits, tmp_path)
    monkeypatch.setenv(sb.SANDBOX_ENV, sb.Sandbox(group.to_dict(), limits, []).to_env())
    report = "import os, sys\nprint('tensorflow' in sys.modules, 'secret' in globals(), 'PART1_RAN' in os.environ)"
    notebooks = {"part1_data": new_notebook(cells=[new_code_cell(report), new_code_cell("secret = os.environ['PART1_RAN'] = '1'")]),
                 "part2_mlp": new_notebook(cells=[new_code_cell(report)])}
    try:
        for name, notebook in notebooks.items():
            executor = GuardedExecute(timeout=60)
            executor.kernel_manager_class = sb.SandboxedKernelManager
            executor.preprocess(notebook, {"metadata": {"path": str(work)}, "unique_key": name})
        assert not execute._SPARE  # no notebook after Part 2: no kernel started ahead
    finally:
        for checker in Checker.running.values():  # started beside the first kernel, never asked here
            checker.stop()
        Checker.running.clear()
        group.remove()
    first, second = (text(notebook.cells[0]).split() for notebook in notebooks.values())
    assert first == ["False", "False", "False"], first  # Part 1 imports no TensorFlow
    assert second == ["True", "False", "False"], second  # imported ahead, in a process Part 1 never ran in


@pytest.mark.parametrize("later_cell, tests_run", [("print('after the tests')", False),
                                                   ("print('after the tests', marker)", True)])
def test_a_visible_test_the_checker_decides_runs_only_where_a_later_cell_needs_its_names(
        tmp_path, monkeypatch, later_cell, tests_run):
    """A test cell the checker decides from its probes is not run in the kernel (its probes still
    are, where it stands), unless another cell reads a name that only test cells bind: then every
    test cell runs, as it does when the student runs the notebook from the top."""
    require_sandbox()
    cells, events, _ = run(tmp_path, [
        new_code_cell("def class_counts(labels):\n    return [len(labels)]"),
        graded_cell("print('ran in the kernel')\nmarker = 1", "class_counts_example"),
        graded_cell("print('an unknown test still runs')", "not_a_test_of_part1"),
        new_code_cell(later_cell),
    ], limits=sb.Limits(), monkeypatch=monkeypatch, notebook_name="part1_data", start_ahead=False)
    test_cell = cells["class_counts_example"]
    assert (text(test_cell) == "ran in the kernel\n") is tests_run
    assert (test_cell.execution_count is not None) is tests_run
    assert text(cells["not_a_test_of_part1"]) == "an unknown test still runs\n"
    assert text(cells[3]).startswith("after the tests")
    assert [event.get("names") for event in events if event["event"] == "visible_tests_run"] == (
        [["marker"]] if tests_run else [])
    written = sorted(records_folder().glob("part1_data-*.json"))
    (records,) = [path for path in written if "-answer-" not in path.name]
    assert json.loads(records.read_text())["cells"]["class_counts_example"]["probes"]  # sent all the same
    for path in written:
        path.unlink()

def test_the_sandbox_hides_the_machine_and_keeps_the_kernels_writes_to_itself(tmp_path, monkeypatch):
    require_sandbox()
    secret = tmp_path / "secret.txt"
    secret.write_text("hidden tests")
    # Shown read-only, and below /tmp as a course or venv may be: the kernel's own /tmp must not hide it.
    data = tmp_path / "data"
    data.mkdir()
    (data / "batch.bin").write_text("pixels")
    assert data.parts[1] == "tmp"
    work = tmp_path / "work"
    (work / "cifar10_course").mkdir(parents=True)
    (work / "cifar10_course" / "checks.py").write_text("ORIGINAL = True\n")
    (work / "trained_models").mkdir()
    (work / "trained_models" / "part2_mlp.weights.h5").write_bytes(b"submitted weights")
    hidden_tests = Path(checker.__file__).resolve().parent
    probe = (
        "import os, socket\n"
        f"print('secret', os.path.exists({str(secret)!r}))\n"
        f"print('hidden tests', os.path.exists({str(hidden_tests)!r}))\n"
        "print('uid', os.getuid())\n"
        f"print('data', open({str(data / 'batch.bin')!r}).read())\n"
        f"try:\n    open({str(data / 'batch.bin')!r}, 'w')\nexcept OSError as e:\n    print('data', e.strerror)\n"
        "print('pids', sorted(int(p) for p in os.listdir('/proc') if p.isdigit())[:3])\n"
        "try:\n    socket.create_connection(('1.1.1.1', 53), timeout=2)\nexcept OSError as e:\n    print('net', type(e).__name__)\n"
        "open('mine.txt', 'w').write('ok')\n"
        "open('cifar10_course/checks.py', 'w').write('ORIGINAL = False')\n"
        f"os.symlink({str(secret)!r}, 'link_to_secret')\n"
        "try:\n    open('big.bin', 'wb').write(b'0' * 2_000_000)\nexcept OSError as e:\n    print('big', e.strerror)\n"
        "import sys\nprint('path', sys.path[-1] == os.getcwd(), '' in sys.path)\n"
        "from ipykernel.kernelapp import IPKernelApp\n"
        "sockets = os.path.dirname(IPKernelApp.instance().abs_connection_file)\n"
        "weights = 'trained_models/part2_mlp.weights.h5'\n"
        "for change in (lambda: open(weights, 'wb'), lambda: os.remove(weights), lambda: os.chmod(weights, 0o666),\n"
        "               lambda: open('trained_models/new.weights.h5', 'wb'), lambda: os.rename('trained_models', 'old')):\n"
        "    try:\n        change()\n        print('weights changed')\n"
        "    except OSError as e:\n        print('weights', e.strerror)\n"
        "for change in (lambda: os.remove(os.path.join(sockets, 'kernel.json')), lambda: os.chmod(sockets, 0o777),\n"
        "               lambda: os.symlink('/etc/passwd', os.path.join(sockets, 'k-9'))):\n"
        "    try:\n        change()\n        print('sockets changed')\n"
        "    except OSError as e:\n        print('sockets', e.strerror)\n"
    )
    cells, _, _ = run(tmp_path, [new_code_cell(probe)], limits=sb.Limits(file_mb=1), monkeypatch=monkeypatch,
                   read_only=[data])
    output = text(cells[0])
    assert "secret False" in output and "hidden tests False" in output and "uid 65534" in output
    assert "net OSError" in output and "big File too large" in output
    assert "data pixels" in output and "data Read-only file system" in output
    assert "pids [1, 2" in output  # its own PID namespace: bubblewrap's init, then the kernel
    assert "path True False" in output  # the notebook's folder comes last on sys.path
    assert output.count("sockets Operation not permitted") + output.count("sockets Permission denied") == 3, output
    assert output.count("weights Read-only file system") == 4 and "weights Device or resource busy" in output, output
    # The kernel wrote into its private copy; the folder the grader reads saw none of it.
    assert sorted(p.name for p in work.iterdir()) == ["cifar10_course", "trained_models"]
    assert (work / "cifar10_course" / "checks.py").read_text() == "ORIGINAL = True\n"
    assert not [mount for mount in Path("/proc/mounts").read_text().splitlines() if "grading-kernels/k-" in mount]


def test_a_kernel_cannot_fill_the_disk_or_make_endless_files(tmp_path, monkeypatch):
    require_sandbox()
    fill = ("import os\nwritten = 0\ntry:\n    while True:\n        with open(f'f{written}', 'wb') as f:\n"
            "            f.write(b'0' * 1_000_000)\n        written += 1\nexcept OSError as e:\n"
            "    print('disk', e.strerror, written)\n")
    many = ("import os\nmade = 0\ntry:\n    while True:\n        os.mkdir(f'/tmp/d{made}')\n        made += 1\n"
            "except OSError as e:\n    print('files', e.strerror, made)\n")
    cells, _, _ = run(tmp_path, [new_code_cell(fill), new_code_cell(many)], limits=sb.Limits(disk_mb=20, files=500),
                   monkeypatch=monkeypatch)
    disk, files = text(cells[0]).split(), text(cells[1]).split()
    assert disk[:4] == ["disk", "No", "space", "left"] and int(disk[-1]) <= 21  # 20 MiB
    assert files[:4] == ["files", "No", "space", "left"] and int(files[-1]) < 500
    assert list((tmp_path / "work").iterdir()) == []


@pytest.mark.slow
def test_every_kind_of_output_counts_towards_the_cap(tmp_path, monkeypatch):
    flood_display = ("from IPython.display import display, update_display\n"
                     "display({'text/plain': 'x'}, raw=True, display_id='d')\n"
                     "for i in range(400):\n    update_display({'text/plain': 'y' * 10_000}, raw=True, display_id='d')\n")
    flood_metadata = "from IPython.display import display\ndisplay({'text/plain': 'z'}, metadata={'m': 'w' * 3_000_000}, raw=True)\n"
    flood_error = "raise ValueError('e' * 3_000_000)"
    for source in (flood_display, flood_metadata, flood_error):
        cells, events, _ = run(tmp_path, [new_code_cell(source), new_code_cell("print('after')")], monkeypatch=monkeypatch,
                            max_output_bytes=1_000_000)
        kept = sum(len(json.dumps(output)) for cell in cells.values() for output in cell.outputs)
        assert kept < 1_100_000, (source[:40], kept)
        assert "output truncated" in text(cells[0]), source[:40]
        assert [e["event"] for e in events] == ["output_truncated"]
        (tmp_path / "events.jsonl").unlink()


@pytest.mark.slow
def test_output_is_capped_and_the_notebook_budget_stops_the_rest(tmp_path, monkeypatch):
    cells, events, _ = run(tmp_path, [
        new_code_cell("for line in range(100_000):\n    print('x' * 100)"),
        new_code_cell("import time\ntime.sleep(6)"),
        graded_cell("print('too late')", "late"),
    ], monkeypatch=monkeypatch, max_output_bytes=1_000_000, notebook_budget=5)
    kept = sum(len(o.get("text", "")) for o in cells[0].outputs)
    assert kept < 1_100_000 and "output truncated" in text(cells[0])
    assert errors(cells["late"]) == ["NotRun: the notebook used up its time budget of 5 s, so this cell and the ones "
                                     "after it did not run"]
    assert [e["event"] for e in events] == ["output_truncated", "notebook_budget"]


def test_the_sandbox_refuses_to_run_where_the_hidden_tests_are_visible(monkeypatch):
    """problems() names a grader installed inside a folder kernels can read."""
    require_sandbox()
    here = Path(grading.__file__).resolve().parent
    monkeypatch.setattr(preflight, "python_roots", lambda: [here.parent])
    assert any("the hidden tests" in problem for problem in sb.problems())
    assert os.path.isdir(here)


@pytest.mark.slow
def test_keras_load_data_finds_the_instructors_archive_and_checks_its_hash(tmp_path, monkeypatch, fixture_archive):
    """The archive is where Keras keeps its download; this one is not the official archive, so
    Keras's hash check fails, it tries to download, and the student is told to use the course's loader."""
    require_sandbox()
    from cifar10_course.acceptance import keras2_hint

    monkeypatch.setenv("CIFAR10_PATH", str(fixture_archive))
    probe = (
        "import os\n"
        f"print('archive', os.path.getsize('/tmp/keras/datasets/{sb.KERAS_CIFAR10_ARCHIVE}'))\n"
        "import keras\n"
        "try:\n    keras.datasets.cifar10.load_data()\nexcept Exception as error:\n    print('load_data:', error)\n"
    )
    cells, _, _ = run(tmp_path, [new_code_cell(probe)], limits=sb.Limits(), monkeypatch=monkeypatch, timeout=60)
    output = text(cells[0])
    assert f"archive {fixture_archive.stat().st_size}" in output, output
    message = output.split("load_data:", 1)[1]
    assert "load_course_split()" in (keras2_hint(message) or ""), output


def test_kernels_start_through_the_provisioner_their_spec_names(tmp_path, monkeypatch):
    """The managers choose jupyter_client's public extension point, a kernel provisioner, through
    their kernel spec; jupyter_client finds it by the entry point pyproject.toml declares. It
    confines kernels, and interrupts them by message, only where the process grades in a sandbox."""
    (installed,) = entry_points(group=kernels.PROVISIONERS, name=kernels.PROVISIONER)
    assert installed.value == kernels.PROVISIONER_TARGET and installed.load() is sb.SandboxProvisioner
    monkeypatch.delenv(sb.SANDBOX_ENV, raising=False)
    plain = sb.SandboxedKernelManager(kernel_name="python3").kernel_spec
    assert plain.metadata["kernel_provisioner"] == {"provisioner_name": "grading-sandbox", "config": {"confined": False}}
    assert plain.interrupt_mode == "signal"
    group = sb.choose("watchdog").create("spec", sb.Limits(), tmp_path)
    monkeypatch.setenv(sb.SANDBOX_ENV, sb.Sandbox(group.to_dict()).to_env())
    manager = sb.SandboxedKernelManager(kernel_name="python3")
    assert manager.kernel_spec.metadata["kernel_provisioner"]["config"] == {"confined": True}
    assert manager.kernel_spec.interrupt_mode == "message"  # a SIGINT would end bubblewrap
    assert sb.IpcKernelManager(kernel_name="python3").kernel_spec.metadata["kernel_provisioner"]["config"] == {
        "confined": False}  # the students' own runs (grading.course) are never confined
    provisioner = KernelProvisionerFactory.instance().create_provisioner_instance("k", manager.kernel_spec, manager)
    assert type(provisioner) is sb.SandboxProvisioner and provisioner.confined
    group.remove()


def test_the_provisioner_is_found_where_the_course_is_not_installed(monkeypatch):
    """A hub grades from the instructor's copy of the course, on PYTHONPATH, not installed: the
    process then declares the provisioner's entry point itself."""
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))  # the declaration goes with the test
    monkeypatch.setattr(kernels, "entry_points", lambda **select: [])  # as if no installed package declared it
    kernels.declare_provisioner.cache_clear()
    try:
        kernels.declare_provisioner()
        declared = [point for point in entry_points(group=kernels.PROVISIONERS, name=kernels.PROVISIONER)
                    if point.dist.name != "cifar10-course"]
        assert [point.value for point in declared] == [kernels.PROVISIONER_TARGET]
        assert declared[0].load() is sb.SandboxProvisioner
    finally:
        kernels.declare_provisioner.cache_clear()


def test_the_provisioner_locks_the_sockets_and_caps_messages_before_the_grader_connects(tmp_path, monkeypatch):
    """Once start_kernel returns, the socket folder is no longer the kernel's (a root grader) and
    the manager's and client's messages are capped; the private mount goes with the kernel."""
    require_sandbox()
    (tmp_path / "work").mkdir()
    group = sb.choose().create("locks", sb.Limits(), tmp_path)
    monkeypatch.setenv(sb.SANDBOX_ENV, sb.Sandbox(group.to_dict()).to_env())

    async def start_and_stop() -> tuple:
        manager = sb.SandboxedKernelManager(kernel_name="python3")
        await manager.start_kernel(cwd=str(tmp_path / "work"))
        try:
            sockets = Path(manager.ip).parent
            client = manager.client()
            seen = (os.stat(sockets).st_uid, manager.context.getsockopt(zmq.MAXMSGSIZE),
                    client.context.getsockopt(zmq.MAXMSGSIZE), type(manager.provisioner))
        finally:
            await manager.shutdown_kernel(now=True)
        return seen, sockets

    try:
        (owner, manager_cap, client_cap, provisioner), sockets = asyncio.run(start_and_stop())
    finally:
        group.remove()
    assert provisioner is sb.SandboxProvisioner
    assert manager_cap == client_cap == kernels.MAX_MESSAGE_BYTES
    if os.geteuid() == 0:
        assert owner == 65533  # mounts.LOCKED_OWNER
    assert not sockets.parent.exists()  # the kernel's private mount, unmounted and removed


HOG = "hog = []\nwhile True:\n    hog.append(bytearray(50_000_000))"
FORK_BOMB = "import os\nwhile True:\n    os.fork()"


@pytest.mark.slow
def test_the_watchdog_kills_a_memory_hog_and_a_fork_bomb_and_names_them(tmp_path, monkeypatch):
    """The watchdog forced on a root grader (root's processes are exempt from RLIMIT_NPROC, so its
    process cap is the only one): the memory hog and the fork bomb are killed and named, the CPU
    and wall-clock limits are those of the cgroups, and its counters file says what it did."""
    require_sandbox()
    # Memory enough for the fork bomb's copies (each about 10 MB of its own) to reach the process cap first.
    # CPU time enough for a kernel's start and the hog's allocations on a busy machine.
    limits = sb.Limits(memory_mb=1536, processes=64, cpu_seconds=6)
    cells, events, counters = run(tmp_path, [
        new_code_cell("x = 1"),
        new_code_cell(HOG),
        graded_cell("assert 'x' not in globals(), 'a new kernel has no old state'", "fresh_kernel"),
        new_code_cell("import time\ntime.sleep(60)"),  # the cell timeout is 10 s
        graded_cell("print('after the timeout')", "after_timeout"),
        new_code_cell(FORK_BOMB),
        graded_cell("print('after the fork bomb')", "after_fork_bomb"),
        new_code_cell("while True:\n    pass"),  # 6 CPU seconds allowed
        graded_cell("print('never runs')", "after_third_death"),
    ], limits=limits, monkeypatch=monkeypatch, way="watchdog", timeout=10)
    assert errors(cells[1]) == ["KernelDied: The kernel died while running this cell: it ran out of memory: a submission "
                                "may use at most 1,536 MB (look for data copied many times, or a list or array that "
                                "keeps growing)."]
    assert errors(cells["fresh_kernel"]) == []
    assert any(e.startswith("CellTimeoutError") for e in errors(cells[3])) and text(cells["after_timeout"]) == "after the timeout\n"
    assert errors(cells[5]) == ["KernelDied: The kernel died while running this cell: it ran more than 64 processes and "
                                "threads at once, the most a submission may run (look for a loop that starts processes)."]
    assert text(cells["after_fork_bomb"]) == "after the fork bomb\n"
    assert errors(cells[7]) == ["KernelDied: The kernel died while running this cell: it used more than 6 s of CPU time "
                                "in one notebook."]
    assert errors(cells["after_third_death"]) == [
        "NotRun: the kernel died 3 times in this notebook, so the cells after the last death did not run"]
    assert [e["event"] for e in events] == ["kernel_death", "cell_timeout", "kernel_death", "kernel_death"]
    # Read back from the watchdog's counters file; a sampled cap is overshot by at most what the hog
    # allocates between two looks.
    assert {name: counters[name] for name in ("memory_kills", "process_kills", "refused_forks")} == {
        "memory_kills": 1, "process_kills": 1, "refused_forks": 0}
    assert 1536 <= counters["peak_memory_mb"] < 6144, counters
    assert not list(tmp_path.glob("*.watchdog.json"))  # removed with the bounds


def fake_cgroup2(root: Path, own: str) -> Path:
    """A cgroup v2 hierarchy of plain files, with the delegated group ``own`` holding this process."""
    (root / own).mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (root / "cgroup.subtree_control").write_text("")
    (root / "cgroup.procs").write_text("")
    (root / own / "cgroup.controllers").write_text("cpu memory pids\n")
    (root / own / "cgroup.subtree_control").write_text("")
    (root / own / "cgroup.procs").write_text(f"{os.getpid()}\n")
    return root / own


def test_cgroup_v2_writes_its_limits_and_reads_its_counters(tmp_path):
    """cgroup v2 against a fake tree (this machine has no usable v2 hierarchy): what a delegated
    grader and a root grader write, and what the counters read; the peak is sampled from
    memory.current where memory.peak is missing; members are killed by their pids."""
    root, own = tmp_path / "cgroup", "user.slice/user-1000.slice/run-1.scope"
    scope = fake_cgroup2(root, own)
    assert sb.choose(root=tmp_path / "nothing").name == "watchdog"
    assert "no writable cgroup" in sb.choose(root=tmp_path / "nothing").why
    way = sb.choose("cgroup-v2", root=root, own="/" + own)
    assert (way.name, way.v2_parent, way.v2_delegated) == ("cgroup-v2", own, True) and "delegated" in way.why
    group = way.create("demo_x", sb.Limits(memory_mb=100, processes=50, cpu_cores=1.5), tmp_path)
    folder = Path(group.folder)
    assert folder.parent == scope and folder.name.startswith("demo_x-")
    assert (scope / sb.GRADER_LEAF / "cgroup.procs").read_text() == str(os.getpid())  # the grader left the parent
    assert (scope / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    written = {name: (folder / name).read_text() for name in ("memory.max", "pids.max", "cpu.max")}
    assert written == {"memory.max": str(100 * 2**20), "pids.max": "50", "cpu.max": "150000 100000"}
    assert not (folder / "memory.swap.max").exists()  # written only where swap is accounted

    subprocess.run(group.launch(["true"]), check=True)  # the shell joins the group, then runs the command
    assert int((folder / "cgroup.procs").read_text()) > 0

    (folder / "memory.events").write_text("low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n")
    (folder / "pids.events").write_text("max 7\n")
    (folder / "memory.peak").write_text(str(90 * 2**20))
    assert group.counters() == {"memory_kills": 1, "refused_forks": 7, "peak_memory_mb": 90}
    (folder / "memory.peak").unlink()  # before Linux 5.19: sampled from memory.current while a kernel runs
    (folder / "memory.current").write_text(str(80 * 2**20))
    child = subprocess.Popen(["sleep", "60"])
    group.started(child.pid)
    deadline = time.monotonic() + 10
    while group.counters()["peak_memory_mb"] != 80 and time.monotonic() < deadline:
        time.sleep(0.05)
    (folder / "memory.current").write_text(str(2**20))
    time.sleep(0.3)
    assert group.counters()["peak_memory_mb"] == 80

    (folder / "cgroup.procs").write_text(str(child.pid))
    # The fake tree forgets a member when it ends, as the kernel's does.
    threading.Thread(target=lambda: (child.wait(), (folder / "cgroup.procs").write_text(""))).start()
    group.kill_all()
    assert child.wait(timeout=10) == -signal.SIGKILL
    (folder / "cgroup.kill").write_text("")
    group.kill_all()
    assert (folder / "cgroup.kill").read_text() == "1"  # where the kernel offers it, one write kills them all
    for path in folder.iterdir():  # the kernel's files, which a real rmdir takes along
        path.unlink()
    group.remove()
    assert not folder.exists() and Path(group.record).parent == tmp_path and not Path(group.record).exists()

    # Root on a v2-only machine: groups in grading/, the controllers enabled down to it.
    (tmp_path / "root").mkdir()
    fake_cgroup2(tmp_path / "root", "init.scope")
    way = sb.choose("cgroup-v2", root=tmp_path / "root")
    assert (way.v2_parent, way.v2_delegated) == ("grading", False)
    group = way.create("demo_y", sb.Limits(), tmp_path)
    assert Path(group.folder).parent == tmp_path / "root/grading"
    assert (tmp_path / "root/cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    assert (tmp_path / "root/grading/cgroup.subtree_control").read_text() == "+memory +pids +cpu"
