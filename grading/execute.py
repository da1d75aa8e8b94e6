"""nbgrader's Execute step, made safe for students' code: :class:`GuardedExecute`.

nbgrader's own step runs the cells of a notebook in one kernel. This one, in its place (see
``nbgrader_config.py``):

- **collects the evidence for the graded tests.** It installs :mod:`grading.protocol.harvest` in every
  kernel before the notebook's first cell runs. After each graded cell it sends that test's probes
  (:mod:`grading.checker`, :mod:`grading.protocol.probes`) into the kernel, with inputs drawn afresh for
  this grading (:class:`grading.protocol.probes.Fresh`, from a seed kept in the records and never sent to
  the kernel), and the harvest calls the student's functions and hands back what they returned.
  The answers are kept unread (only their length is checked, before anything else), each in a
  file of its own beside the records of the probes sent, for the checker
  (:class:`grading.verdicts.ApplyVerdicts`), which alone decides the scores. What the kernel
  printed or raised in a graded cell decides nothing. Two graded cells in a row with the same
  probes share one answer.
- **grades a notebook whose kernel died as it is.** nbgrader 0.9.6 lets ``DeadKernelError`` end
  the whole submission, and then deletes everything it had graded. Here the cell that killed the
  kernel gets an error output saying why (out of memory, CPU budget, ...), a new kernel starts
  and the remaining cells run in it (at most :attr:`kernel_restarts` times, then the rest of the
  notebook is marked as not run).
- **keeps a wall-clock budget per notebook** (:attr:`notebook_budget`; each cell also has
  nbgrader's ``Execute.timeout``): cells after the budget are marked as not run.
- **caps the output** a notebook may keep (:attr:`max_output_bytes`), counting every kind: streams,
  display data with its metadata, updates to an earlier display, errors with their tracebacks, and
  widget messages. What comes after the cap is dropped as it arrives, and the cell where it was
  reached says so.
- **runs no visible test the checker decides.** A test cell the checker decides from its own probes
  is not run in the kernel: what it would print or raise decides nothing, and its work (training
  twice on a sample, rebuilding the model, ...) was a quarter of a submission's grading. Its probes
  are still sent after it, where it stands. Where a cell of the notebook may read a name that only
  test cells bind (:func:`names_only_tests_bind`), the notebook's test cells all run, as they do
  when the student runs it from the top; after a kernel death, the same holds for the cells the
  new kernel runs (it has none of the names the cells before it bound).
- **starts work ahead.** The submission's checker starts beside its first kernel (its start and
  Keras import then overlap the kernel's work), and the kernel of the next notebook starts, and
  imports TensorFlow, as soon as this notebook's kernel is stopped, while this notebook is being
  checked (:meth:`GuardedExecute._start_spare_kernel`). Still one kernel at a time, each a new
  process that runs no cell of the student's before its own notebook.
- **records what happened** (timeouts, kernel deaths, budgets, truncated output) as JSON lines in
  the file named by :data:`EVENTS_ENV`, for the grading report.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import subprocess
import symtable
import time
from collections import Counter
from pathlib import Path

from IPython.core.inputtransformer2 import TransformerManager
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbclient.util import ensure_async
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Bool, Enum, Integer

from cifar10_course.training import WEIGHTS_FOLDER
from grading.protocol import codec, harvest
from grading.protocol import probes as p
from grading.protocol.records import record_event, records_folder, write_records
from grading import sandbox as sb
from grading.checker import NETWORK_PARTS, is_test, graded_tests
from grading.protocol.results import PREPARE_ENV, read_prepare_request
from grading.verdicts import ApplyVerdicts

# The kernel's side of the protocol: the codec's source, then the harvest's, run in one namespace.
HARVEST_SOURCE = Path(codec.__file__).read_text() + "\n" + Path(harvest.__file__).read_text()
# Installs the harvest in a namespace of its own and binds its entry point to a name of the
# notebook's namespace; sent before any cell of the notebook runs, so every name it uses is real.
INSTALL = ("(lambda source, name, namespace: (exec(compile(source, '<grading harvest>', 'exec'), namespace), "
           "get_ipython().user_ns.__setitem__(name, namespace['install'](get_ipython().user_ns))))({source!r}, {name!r}, {{}})")


# What a notebook's first cell does first (cifar10_course.environment.quiet_tensorflow), sent to a
# spare kernel ahead of its notebook; it binds no name of the notebook's.
WARM_TENSORFLOW = "__import__('cifar10_course.environment', fromlist=['quiet_tensorflow']).quiet_tensorflow()"
_SPARE: dict = {}  # the kernel started ahead for this process's next notebook (GuardedExecute instances are per notebook)


def planned_notebooks() -> list[str]:
    """The notebooks this grading process grades, in nbgrader's order (by name), where the grader
    says (:data:`PREPARE_ENV`, one submission's process); empty where it does not."""
    given = os.environ.get(PREPARE_ENV)
    if not given:
        return []
    folder, notebooks, _ = read_prepare_request(given)
    return sorted(name for name in notebooks if (folder / f"{name}.ipynb").is_file())


def _stop_spare_kernel() -> None:
    if _SPARE:
        km, kc = _SPARE.pop("km"), _SPARE.pop("kc")
        _SPARE.clear()
        with contextlib.suppress(Exception):
            kc.stop_channels()
            run_sync(km.shutdown_kernel)(now=True)
            run_sync(km.cleanup_resources)()


atexit.register(_stop_spare_kernel)  # a spare whose notebook never ran (nbgrader stopped before it)


def without_magics(source: str) -> str:
    """``source`` with each magic's Python kept (``%time x = f()`` -> ``x = f()``, a ``%%time``
    cell's body) and shell commands dropped: code that magics run, which IPython's transformation
    hides in strings."""
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        if stripped.startswith("%%") or stripped.startswith("!"):
            continue
        if stripped.startswith("%"):
            line = line[:len(line) - len(stripped)] + stripped.partition(" ")[2]
        lines.append(line)
    return "\n".join(lines)


def global_names(source: str) -> tuple[set[str], set[str]]:
    """The global names an IPython cell's code may read, and those it binds (assigns, imports,
    defines, or declares global and assigns in a function), also in its magics' code; two empty
    sets if it is no Python (or nested too deep for Python's compiler: a student's cell may be hostile)."""
    reads, binds = set(), set()
    for version in (TransformerManager().transform_cell, without_magics):
        try:
            table = symtable.symtable(version(source), "<cell>", "exec")
        except (SyntaxError, ValueError, MemoryError, RecursionError):  # the kernel cannot compile it either
            continue
        _add_global_names(table, reads, binds)
    return reads, binds


def _add_global_names(table: symtable.SymbolTable, reads: set[str], binds: set[str]) -> None:
    pending = [table]
    while pending:
        scope = pending.pop()
        pending += scope.get_children()
        for symbol in scope.get_symbols():
            if scope.get_type() == "module" or symbol.is_global():
                if symbol.is_referenced():
                    reads.add(symbol.get_name())
                if symbol.is_assigned() or symbol.is_imported() or (scope.get_type() == "module" and symbol.is_namespace()):
                    binds.add(symbol.get_name())


# Code read for names, at most, per notebook: IPython's transformation takes about 3 s per MB, and a
# student's code is a few tens of kB. Past it, the tests run, as they did before.
READ_SOURCE_CHARACTERS = 200_000
TOO_LARGE_TO_READ = "(cells too large to read for names)"


def names_only_tests_bind(cells: list[NotebookNode]) -> set[str]:
    """Names that one of ``cells`` other than the tests may read and that only the test cells among
    them bind: skipping the tests would leave them undefined (a function may read a global bound
    later, so where a cell stands does not matter). :data:`TOO_LARGE_TO_READ` alone where the
    cells hold more code than :data:`READ_SOURCE_CHARACTERS`."""
    if sum(len(cell.source) for cell in cells if cell.cell_type == "code") > READ_SOURCE_CHARACTERS:
        return {TOO_LARGE_TO_READ}
    others_read, others_bind, tests_bind = set(), set(), set()
    for cell in cells:
        if cell.cell_type != "code":
            continue
        reads, binds = global_names(cell.source)
        if is_test(cell):
            tests_bind |= binds
        else:
            others_read |= reads
            others_bind |= binds
    return (others_read - others_bind) & tests_bind


def error_output(name: str, message: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=name, evalue=message, traceback=[f"{name}: {message}"])


def note_output(message: str) -> NotebookNode:
    """A note from the grader: display data, which nbgrader's LimitOutput never drops."""
    return NotebookNode(output_type="display_data", data={"text/plain": message}, metadata={})


def content_size(value) -> int:
    """About how many bytes ``value`` (a message's content) takes as JSON, without writing it out."""
    if isinstance(value, str):
        return len(value) + 2
    if isinstance(value, dict):
        return sum(content_size(key) + content_size(item) + 2 for key, item in value.items()) + 2
    if isinstance(value, (list, tuple)):
        return sum(content_size(item) + 1 for item in value) + 2
    return 8


class SandboxRequired(RuntimeError):
    """Autograde outside the sandbox, which the course's settings refuse."""


class GuardedExecute(Execute):
    """nbgrader's ``Execute`` with evidence for the checker, kernel restarts, budgets and an output cap."""

    notebook_budget = Integer(900, help="Wall-clock seconds one notebook may run.").tag(config=True)
    max_output_bytes = Integer(5_000_000, help="Output one notebook may keep, in bytes.").tag(config=True)
    kernel_restarts = Integer(2, help="New kernels after deaths, per notebook.").tag(config=True)
    harvest_timeout = Integer(None, allow_none=True, help="Seconds the student's functions may take to answer one "
                              "test's probes (default: Execute.timeout, as for a cell).").tag(config=True)
    whole_array_bytes = Integer(8 * 2**20, help="Arrays up to this size are handed over whole; larger ones as a "
                                "sample of rows.").tag(config=True)
    sample_rows = Integer(512, help="Rows in the sample of a large array.").tag(config=True)
    max_answer_bytes = Integer(48 * 2**20, help="The most one test's answers may take.").tag(config=True)
    store_widget_state = Bool(False).tag(config=True)
    run_visible_tests = Bool(False, help="Run the visible test cells that the checker decides from its own probes "
                             "(their output then shows above each verdict). False: they are not run, unless "
                             "another cell may read a name that only test cells bind.").tag(config=True)
    start_ahead = Bool(True, help="Start the checker beside the submission's first kernel, and each next kernel "
                       "(importing TensorFlow) while the previous notebook is checked. False: each process "
                       "starts when it is needed, so at most one of them runs at a time.").tag(config=True)
    sandbox_required = Bool(True, help="Refuse to run a notebook outside the grading sandbox. Only the sandboxed "
                            "grader (python -m grading grade) runs kernels in it: this keeps nbgrader's own "
                            "autograde (a plain `nbgrader autograde`, or the formgrader's in-process Autograde "
                            "button should grading.formgrader not answer it) from running students' code with "
                            "the instructor's rights. False: grading without the sandbox, by choice "
                            "(python -m grading grade --no-sandbox).").tag(config=True)
    # A kernel is killed when its notebook is done: nothing of its state is needed, and a polite
    # shutdown request would wait on a kernel the notebook may have wedged.
    shutdown_kernel = Enum(["graceful", "immediate"], default_value="immediate").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        # nbconvert's ExecutePreprocessor.preprocess, with each cell's fate in our hands.
        if self.sandbox_required and sb.current() is None:
            raise SandboxRequired("this notebook was not graded: nbgrader autograde ran it outside the grading "
                                  "sandbox, where a student's code would run with your rights. Grade with "
                                  "`python -m grading grade` or the formgrader's buttons (README: 'The sandbox').")
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        if resources or not hasattr(self, "resources"):  # as nbconvert's ExecutePreprocessor keeps them
            self.resources = resources
        self.notebook_name = Path((resources or {}).get("unique_key", "notebook")).name
        submission = (resources or {}).get("metadata", {}).get("path")
        if submission and self.start_ahead:  # the checker starts beside the first kernel (it runs no code of the student's)
            ApplyVerdicts(config=self.config).start_checker(Path(submission).resolve(),
                                                            planned_notebooks() or [self.notebook_name])
        self.tests = graded_tests(self.notebook_name)
        self.seed = secrets.randbits(128)  # the fresh inputs of this grading (grading.protocol.probes.Fresh)
        self.records = {"seed": self.seed, "harvests": [], "cells": {}}
        self.fresh = {}  # probe key -> [harvest index, position]: answers no other cell has run since
        self.kept_output_bytes, self.output_truncated = 0, False
        deadline = time.monotonic() + self.notebook_budget
        stopped, self.restarts = None, 0
        self.seconds = Counter()  # where the notebook's time went, for the grading's breakdown
        first_cell = True
        kernel_for, run_tests = None, self.run_visible_tests  # the restart count the decision was made for
        if not self._adopt_spare_kernel():
            self._start_kernel()
        try:
            for index, cell in enumerate(self.nb.cells):
                if cell.cell_type != "code" or not cell.source.strip():
                    continue
                if kernel_for != self.restarts:  # a new kernel holds only what the cells from here on bind
                    kernel_for, run_tests = self.restarts, self._tests_needed(self.nb.cells[index:])
                grade_id = cell.metadata.get("nbgrader", {}).get("grade_id") if is_test(cell) else None
                # The notebooks' first cell imports the course's package and TensorFlow.
                phase = "test cells" if grade_id is not None else "first cells" if first_cell else "student cells"
                first_cell = False
                if stopped is None and time.monotonic() > deadline:
                    stopped = (f"the notebook used up its time budget of {self.notebook_budget} s, so this "
                               "cell and the ones after it did not run")
                    self._record("notebook_budget")
                if stopped is not None:
                    cell.outputs = [error_output("NotRun", stopped)]
                    self._note_cell(grade_id, stopped)
                    continue
                if grade_id is None:
                    self.fresh.clear()
                elif grade_id in self.tests and not run_tests:  # its verdict comes from the probes alone
                    cell.outputs, cell.execution_count = [], None
                    stopped = self._timed_harvest(grade_id, deadline)
                    continue
                started = time.perf_counter()
                try:
                    self.preprocess_cell(cell, resources, index)
                except Exception as error:  # whatever ended the kernel, the notebook goes on
                    if isinstance(error, DeadKernelError):
                        reason = self._death_reason()
                    else:  # the kernel's messages stopped coming (a fork bomb's copies write on its sockets)
                        reason = f"the kernel stopped answering ({type(error).__name__})"
                    self._record("kernel_death", reason=reason)
                    cell.outputs.append(error_output("KernelDied", f"The kernel died while running this cell: {reason}."))
                    self._note_cell(grade_id, f"the kernel died while running this test: {reason}")
                    stopped = self._fresh_kernel_or_stop(
                        f"the kernel died {self.restarts + 1} times in this notebook, so the cells after the last "
                        "death did not run")
                    continue
                finally:
                    self.seconds[phase] += time.perf_counter() - started
                if grade_id is not None:
                    stopped = self._timed_harvest(grade_id, deadline)
        finally:
            self._stop_kernel()
            if self.start_ahead:
                self._start_spare_kernel()
            self._record("phases", seconds={name: round(value, 3) for name, value in self.seconds.items()})
        self.set_widgets_metadata()
        records = records_folder() / f"{self.notebook_name}-{secrets.token_hex(4)}.json"
        write_records(records, self.records)
        self.resources.setdefault("grading", {})["records"] = str(records)
        return self.nb, self.resources

    def _tests_needed(self, cells: list[NotebookNode]) -> bool:
        """Whether the test cells among ``cells`` (the rest of the notebook, for the kernel now
        running) must run: :attr:`run_visible_tests`, or another of them reads what only they bind."""
        needed = names_only_tests_bind(cells)
        if needed and not self.run_visible_tests:
            self._record("visible_tests_run", names=sorted(needed)[:20])
        return self.run_visible_tests or bool(needed)

    # -- kernels ------------------------------------------------------------------------------

    def _start_kernel(self) -> None:
        started = time.perf_counter()
        try:
            self._start_kernel_and_harvest()
        finally:
            self.seconds["kernel starts"] += time.perf_counter() - started

    def _start_kernel_and_harvest(self) -> None:
        self.km = self.create_kernel_manager()
        # What a kernel writes to its own stdout and stderr (not to the notebook) is nobody's to read.
        self.start_new_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.start_new_kernel_client()
        info = self.wait_for_reply(self.kc.kernel_info())
        if info is None:
            raise RuntimeError("the kernel did not answer its first request")
        self.nb.metadata["language_info"] = info["content"]["language_info"]
        self.fresh.clear()
        self.entry = f"_grading_harvest_{secrets.token_hex(8)}"
        installed = self._silent(INSTALL.format(source=HARVEST_SOURCE, name=self.entry), timeout=self.startup_timeout)
        if installed is None or installed["content"].get("status") != "ok":
            raise RuntimeError("the grader's helper could not be installed in the kernel")

    def _start_spare_kernel(self) -> None:
        """Start the kernel of this process's next notebook now, and have it import TensorFlow (what
        that notebook's first cell does first; Part 1 imports none), so that both overlap this
        notebook's checker and nbgrader's steps between notebooks. It gets the harvest of its own,
        as every kernel does, and runs no cell of the student's before its notebook starts. Its
        private copy of the folder is taken now: the submission's files as nbgrader copied them in,
        without this notebook's graded copy and the next one's sanitized copy (no cell reads them)."""
        planned = planned_notebooks()
        later = [name for name in planned if name > self.notebook_name]
        if not later or later[0] not in NETWORK_PARTS:
            return
        started = time.perf_counter()
        try:
            self._start_kernel_and_harvest()
            warming = self.kc.execute(WARM_TENSORFLOW, silent=True, store_history=False, stop_on_error=False)
        except Exception:  # no spare: the next notebook starts its kernel as usual
            self._stop_kernel()
            return
        finally:
            self.seconds["kernel starts"] += time.perf_counter() - started
        _SPARE.update(km=self.km, kc=self.kc, entry=self.entry, warming=warming,
                      language_info=self.nb.metadata["language_info"])
        self.km = self.kc = None

    def _adopt_spare_kernel(self) -> bool:
        """Take the kernel the previous notebook started (:meth:`_start_spare_kernel`), once its
        TensorFlow import has answered; False when there is none, or it is not well."""
        if not _SPARE:
            return False
        spare = dict(_SPARE)
        _SPARE.clear()
        self.km, self.kc, self.entry = spare["km"], spare["kc"], spare["entry"]
        self.fresh.clear()
        started = time.perf_counter()
        try:
            reply = self._reply(spare["warming"], timeout=self.startup_timeout)
        except DeadKernelError:
            reply = None
        finally:
            self.seconds["first cells"] += time.perf_counter() - started
        if reply is None:
            self._stop_kernel()
            return False
        self.nb.metadata["language_info"] = spare["language_info"]
        return True

    def _fresh_kernel_or_stop(self, why: str) -> str | None:
        """Replace the kernel, as "Restart" would; once :attr:`kernel_restarts` are used up, stop
        instead and return ``why``, the message for the cells that will not run."""
        self._stop_kernel()
        if self.restarts == self.kernel_restarts:
            return why
        self.restarts += 1
        try:
            self._start_kernel()
        except Exception as error:  # What the dead kernel left behind (a fork bomb) can stop a new one.
            self._stop_kernel()
            self._record("kernel_death", reason=f"a new kernel could not start ({type(error).__name__})")
            return f"a new kernel could not start after the last one died ({type(error).__name__}: {error})"
        return None

    def _stop_kernel(self) -> None:
        """Kill the kernel (its notebook is done, or it died) and remove what it left."""
        if self.km is not None:
            run_sync(self._stop_kernel_async)()
        self.km = self.kc = None

    async def _stop_kernel_async(self) -> None:
        try:
            if await ensure_async(self.km.is_alive()):
                await ensure_async(self.km.shutdown_kernel(now=self.shutdown_kernel == "immediate"))
        except RuntimeError as error:  # jupyter_client's words for a kernel that is gone already
            if "No kernel is running!" not in str(error):
                raise
        finally:
            await ensure_async(self.km.cleanup_resources())
            if self.kc is not None:
                await ensure_async(self.kc.stop_channels())

    def _death_reason(self) -> str:
        reason = getattr(self.km, "death_reason", None)
        return reason() if reason else "the kernel process ended"

    # -- evidence for the checker ---------------------------------------------------------------

    def _note_cell(self, grade_id: str | None, message: str) -> None:
        """Record why a graded cell has no answers (it did not run, or its kernel died)."""
        if grade_id is not None:
            self.records["cells"][grade_id] = {"probes": {}, "message": message[0].upper() + message[1:] + "."}

    def _timed_harvest(self, grade_id: str, deadline: float) -> str | None:
        started = time.perf_counter()
        try:
            return self._harvest(grade_id, deadline)
        finally:
            self.seconds["probes"] += time.perf_counter() - started

    def _harvest(self, grade_id: str, deadline: float) -> str | None:
        """Ask the kernel for the answers to ``grade_id``'s probes, within the notebook's
        ``deadline``; returns a reason to stop the notebook when the kernel died answering them."""
        test = self.tests.get(grade_id)
        if test is None:
            return None
        probes = test.probes_for(p.Fresh(self.seed))
        needed = [probe for probe in probes if p.key(probe) not in self.fresh]
        if needed:
            sent = [{**probe, "fresh": p.fresh_value(self.seed, probe)} for probe in needed]
            request = {"probes": sent, "seed": secrets.randbelow(2**31), "whole_bytes": self.whole_array_bytes,
                       "sample_rows": self.sample_rows, "file_limit": 64 * 2**20}
            index = len(self.records["harvests"])
            harvest_record = {"request": request, "answer": None, "error": None}
            timeout = max(1.0, min(self.harvest_timeout or self.timeout or 120, deadline - time.monotonic()))
            try:
                answer, problem = self._ask(request, timeout)
            except DeadKernelError:
                reason = self._death_reason()
                self._record("kernel_death", reason=reason)
                answer, problem = None, f"The kernel died while the grader called your functions: {reason}."
            if answer is not None:
                path = records_folder() / f"{self.notebook_name}-{secrets.token_hex(4)}-answer-{index}.json"
                path.write_text(answer, encoding="utf-8", errors="replace")
                harvest_record["answer"] = path.name
            harvest_record["error"] = problem
            self.records["harvests"].append(harvest_record)
            for position, probe in enumerate(needed):
                self.fresh[p.key(probe)] = [index, position]
            if harvest_record["error"] and "kernel died" in harvest_record["error"]:
                self.records["cells"][grade_id] = {"probes": {p.key(probe): self.fresh[p.key(probe)]
                                                              for probe in probes}}
                return self._fresh_kernel_or_stop(
                    f"the kernel died {self.restarts + 1} times in this notebook, so the cells after the last "
                    "death did not run")
        self.records["cells"][grade_id] = {"probes": {p.key(probe): self.fresh[p.key(probe)] for probe in probes}}
        return None

    def _ask(self, request: dict, timeout: float) -> tuple[str | None, str | None]:
        """Call the harvest installed in the kernel with ``request``: ``(answer, None)`` with the
        answer's JSON text, unparsed, or ``(None, why)``. The text is only measured here: it is
        parsed by the checker, whose memory is bounded."""
        reply = self._silent("", timeout=timeout, user_expressions={"answer": f"{self.entry}({json.dumps(request)!r})"})
        if reply is None:
            if self.kc is not None:
                run_sync(self.km.interrupt_kernel)()
            return None, f"The grader's calls of your functions did not finish within {timeout:.0f} s, so they were stopped."
        answer = (reply["content"].get("user_expressions") or {}).get("answer") or {}
        if answer.get("status") != "ok":
            return None, ("The grader's helper in your kernel did not answer (" + str(answer.get("ename", "no answer"))[:100]
                          + "): did a cell of your notebook delete or replace names it did not define?")
        data = (answer.get("data") or {}).get("text/plain")
        if not isinstance(data, str):
            return None, "The kernel's answer to the grader was not text."
        if len(data) > self.max_answer_bytes:
            return None, (f"Your functions' answers were too large for the grader to keep ({len(data) / 2**20:.0f} MB; "
                          f"at most {self.max_answer_bytes // 2**20} MB).")
        return data, None

    async def _async_silent(self, code: str, timeout: float, user_expressions: dict | None = None):
        """Run ``code`` in the kernel without a trace in the notebook; its reply, or None."""
        msg_id = self.kc.execute(code, silent=True, store_history=False, stop_on_error=False,
                                 user_expressions=user_expressions or {})
        return await self._async_reply(msg_id, timeout)

    async def _async_reply(self, msg_id: str, timeout: float):
        """The kernel's reply to the request ``msg_id``, or None after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not await ensure_async(self.km.is_alive()):
                raise DeadKernelError("the kernel died")
            try:
                reply = await ensure_async(self.kc.shell_channel.get_msg(timeout=min(1.0, max(0.1, deadline - time.monotonic()))))
            except Exception:  # queue.Empty
                continue
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply
        return None

    _silent = run_sync(_async_silent)
    _reply = run_sync(_async_reply)

    # -- output cap and telemetry -----------------------------------------------------------------

    def process_message(self, msg, cell, cell_index):
        if msg["msg_type"] in ("stream", "display_data", "execute_result", "update_display_data", "error",
                               "comm_open", "comm_msg"):
            if self.output_truncated:
                return None
            self.kept_output_bytes += content_size(msg.get("content", {}))
            if self.kept_output_bytes > self.max_output_bytes:
                self.output_truncated = True
                self._record("output_truncated")
                cell.outputs.append(note_output(
                    f"... output truncated: a notebook may keep at most {self.max_output_bytes // 1_000_000} MB of "
                    "output (text, images, updates and error messages together) while it is graded ..."))
                return None
        return super().process_message(msg, cell, cell_index)

    def on_cell_executed(self, **kwargs):
        content = kwargs["execute_reply"]["content"]
        if content.get("status") == "error":  # nbgrader copies the reply's error into the cell: keep it small
            content["evalue"] = str(content.get("evalue", ""))[:2000]
            content["traceback"] = [str(line)[:2000] for line in content.get("traceback", [])[:50]]
        super().on_cell_executed(**kwargs)
        if content.get("ename") == "CellTimeoutError":
            self._record("cell_timeout", cell=kwargs["cell"].metadata.get("nbgrader", {}).get("grade_id"))
        elif content.get("status") == "error" and WEIGHTS_FOLDER in content["evalue"] and any(
                refusal in content["evalue"] for refusal in ("Permission denied", "Read-only", "errno = 13")):
            self._record("weights_write_refused", cell=kwargs["cell_index"])

    def _record(self, event: str, **details) -> None:
        record_event(event, self.notebook_name, **details)
