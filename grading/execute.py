"""nbgrader's Execute step, made safe for students' code: :class:`GuardedExecute`.

nbgrader's own step runs the cells of a notebook in one kernel. This one, in its place (see
``nbgrader_config.py``):

- **grades a notebook whose kernel died as it is.** nbgrader 0.9.6 lets ``DeadKernelError`` end
  the whole submission, and then deletes everything it had graded. Here the cell that killed the
  kernel gets an error output saying why (out of memory, CPU budget, ...), a new kernel starts
  and the remaining cells run in it (at most :attr:`kernel_restarts` times, then the rest of the
  notebook is marked as not run). A test cell with an error output scores 0, as nbgrader does.
- **keeps a wall-clock budget per notebook** (:attr:`notebook_budget`; each cell also has
  nbgrader's ``Execute.timeout``): cells after the budget are marked as not run.
- **caps the output** a notebook may keep (:attr:`max_output_bytes`): the rest is dropped as it
  arrives, with a note, so a print loop cannot fill the grader's memory, disk or feedback.
- **attests every test cell** with the guard of :mod:`grading.guard`: before a test, anything the
  notebook replaced (``keras.Model.count_params``, ``np.testing.assert_allclose``,
  ``builtins.print``, the shell's ``run_cell``, ...) is put back and the student told so; if
  something is replaced *while* the test runs (a student's function that patches when called), or
  the kernel cannot attest, the test gets an error output and scores 0.
- **records what happened** (timeouts, kernel deaths, budgets, truncated output, replaced
  objects) as JSON lines in the file named by :data:`EVENTS_ENV`, for the grading report.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path

from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbclient.util import ensure_async
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Integer

from grading import guard

EVENTS_ENV = "GRADING_EVENTS"
GUARD_SOURCE = Path(guard.__file__).read_text()


def error_output(name: str, message: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=name, evalue=message, traceback=[f"{name}: {message}"])


def note_output(message: str) -> NotebookNode:
    return NotebookNode(output_type="stream", name="stdout", text=message + "\n")


class GuardedExecute(Execute):
    """nbgrader's ``Execute`` with kernel restarts, budgets, an output cap and attestations."""

    notebook_budget = Integer(900, help="Wall-clock seconds one notebook may run.").tag(config=True)
    max_output_bytes = Integer(5_000_000, help="Output one notebook may keep, in bytes.").tag(config=True)
    kernel_restarts = Integer(2, help="New kernels after deaths, per notebook.").tag(config=True)
    attest_timeout = Integer(30, help="Seconds to wait for the guard's attestation.").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        # nbconvert's ExecutePreprocessor.preprocess, with each cell's fate in our hands.
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self.notebook_name = Path((resources or {}).get("unique_key", "notebook")).name
        self.kept_output_bytes, self.output_truncated = 0, False
        deadline = time.monotonic() + self.notebook_budget
        stopped, self.restarts, self.pending_note = None, 0, None
        self._start_kernel()
        try:
            for index, cell in enumerate(self.nb.cells):
                if cell.cell_type != "code" or not cell.source.strip():
                    continue
                if stopped is None and time.monotonic() > deadline:
                    stopped = (f"the notebook used up its time budget of {self.notebook_budget} s, so this "
                               "cell and the ones after it did not run")
                    self._record("notebook_budget")
                graded = cell.metadata.get("nbgrader", {}).get("grade", False)
                if stopped is None and graded and not self._attest(cell, before=True):
                    # The kernel cannot even run the grader's check: the notebook broke it. The test
                    # runs in a fresh kernel instead, as after a death.
                    self._record("kernel_broken")
                    stopped = self._fresh_kernel_or_stop(
                        "the notebook left its kernel unable to run tests, so this cell and the ones after it did not run")
                if stopped is not None:
                    cell.outputs = [error_output("NotRun", stopped)]
                    continue
                try:
                    self.preprocess_cell(cell, resources, index)
                except DeadKernelError:
                    reason = self._death_reason()
                    self._record("kernel_death", reason=reason)
                    cell.outputs.append(error_output("KernelDied", f"The kernel died while running this cell: {reason}."))
                    stopped = self._fresh_kernel_or_stop(
                        f"the kernel died {self.restarts + 1} times in this notebook, so the cells after the last "
                        "death did not run")
                    continue
                if graded:
                    if self.pending_note is not None:
                        cell.outputs.insert(0, self.pending_note)
                        self.pending_note = None
                    self._attest(cell, before=False)
        finally:
            self._stop_kernel()
        self.set_widgets_metadata()
        return self.nb, self.resources

    # -- kernels ------------------------------------------------------------------------------

    def _start_kernel(self) -> None:
        self.km = self.create_kernel_manager()
        self.start_new_kernel()
        self.start_new_kernel_client()
        info = self.wait_for_reply(self.kc.kernel_info())
        self.nb.metadata["language_info"] = info["content"]["language_info"]
        self._install_guard()

    def _fresh_kernel_or_stop(self, why: str) -> str | None:
        """Replace the kernel, as "Restart" would; once :attr:`kernel_restarts` are used up, stop
        instead and return ``why``, the message for the cells that will not run."""
        self._stop_kernel()
        if self.restarts == self.kernel_restarts:
            return why
        self.restarts += 1
        self._start_kernel()
        return None

    def _stop_kernel(self) -> None:
        if self.km is not None:
            self._cleanup_kernel()
        self.km = self.kc = None
        folder = getattr(self, "guard_folder", None)
        if folder is not None and folder.name.startswith("grading-guard-"):  # ours, not the sandbox's
            shutil.rmtree(folder, ignore_errors=True)

    def _death_reason(self) -> str:
        reason = getattr(self.km, "death_reason", None)
        return reason() if reason else "the kernel process ended"

    # -- the guard ------------------------------------------------------------------------------

    def _install_guard(self) -> None:
        folder = getattr(self.km, "private_folder", None)
        self.guard_folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="grading-guard-"))
        self.guard_key = secrets.token_bytes(32)
        key_path = self.guard_folder / "guard.key"
        key_path.write_bytes(self.guard_key)
        self.attest_path = self.guard_folder / "attest.log"
        sources = "\n".join(cell.source for cell in self.nb.cells)
        preload = ["numpy", "cifar10_course"] + (["keras"] if "keras" in sources else [])
        code = ("__grading_namespace__ = {'__name__': '__grading_guard__'}\n"
                f"exec(compile({GUARD_SOURCE!r}, '<grading guard>', 'exec'), __grading_namespace__)\n"
                f"__grading_namespace__.pop('install')({str(key_path)!r}, {str(self.attest_path)!r}, {preload!r})\n"
                "del __grading_namespace__")
        reply = self._silent(code, timeout=max(self.timeout or 120, 60))
        if reply is None or reply["content"]["status"] != "ok":
            detail = reply["content"].get("evalue", "") if reply else "no reply"
            raise RuntimeError(f"the grading guard could not start in the kernel: {detail}")

    def _attest(self, cell: NotebookNode, before: bool) -> bool:
        """Ask the guard what the notebook replaced (it puts the originals back); False when the
        kernel could not attest at all."""
        nonce = secrets.token_hex(16)
        self._silent(repr(guard.ATTEST_PREFIX + nonce), timeout=self.attest_timeout)
        replaced = self._read_attestation(nonce)
        if replaced is None:
            self._record("integrity", cell=cell.metadata.get("nbgrader", {}).get("grade_id"), replaced=["no attestation"])
            if not before:
                cell.outputs.append(error_output("GradingIntegrityError", (
                    "the grader could not confirm that this test ran with the libraries' own functions "
                    "(the kernel did not answer, or the notebook interfered with the grader); the test scores 0")))
            return False
        if not replaced:
            return True
        self._record("integrity", cell=cell.metadata.get("nbgrader", {}).get("grade_id"), replaced=replaced, before=before)
        names = ", ".join(replaced[:8]) + (" and more" if len(replaced) > 8 else "")
        if before:  # shown above the test's own output once it has run
            self.pending_note = note_output(
                f"Grading note: the notebook had replaced {names}; the originals were put back before this test.")
        else:
            cell.outputs.append(error_output("GradingIntegrityError", (
                f"{names} was replaced while this test ran, so its result cannot be trusted and it scores 0. "
                "Tests must run with the libraries' own functions: remove the code that replaces them.")))
        return True

    def _read_attestation(self, nonce: str) -> list[str] | None:
        try:
            lines = self.attest_path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return None
        for line in reversed(lines):
            try:
                seen, replaced, mac = ast.literal_eval(line)
            except (ValueError, SyntaxError, TypeError):
                continue
            if seen != nonce or not isinstance(replaced, list):
                continue
            expected = hashlib.sha256(self.guard_key + nonce.encode() + b"|" + "\n".join(replaced).encode()).hexdigest()
            return replaced if secrets.compare_digest(mac, expected) else None
        return None

    async def _async_silent(self, code: str, timeout: float):
        """Run ``code`` in the kernel without a trace in the notebook; its reply, or None."""
        msg_id = self.kc.execute(code, silent=True, store_history=False, stop_on_error=False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                reply = await ensure_async(self.kc.shell_channel.get_msg(timeout=max(0.1, deadline - time.monotonic())))
            except Exception:  # queue.Empty
                return None
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply
        return None

    _silent = run_sync(_async_silent)

    # -- output cap and telemetry -----------------------------------------------------------------

    def output(self, outs, msg, display_id, cell_index):
        if self.output_truncated:
            return None
        size = len(json.dumps(msg.get("content", {}).get("data") or msg.get("content", {}).get("text") or ""))
        self.kept_output_bytes += size
        if self.kept_output_bytes > self.max_output_bytes:
            self.output_truncated = True
            self._record("output_truncated")
            outs.append(note_output(f"... output truncated: a notebook may keep at most "
                                    f"{self.max_output_bytes // 1_000_000} MB of output while it is graded ..."))
            return None
        return super().output(outs, msg, display_id, cell_index)

    def on_cell_executed(self, **kwargs):
        super().on_cell_executed(**kwargs)
        if kwargs["execute_reply"]["content"].get("ename") == "CellTimeoutError":
            self._record("cell_timeout", cell=kwargs["cell"].metadata.get("nbgrader", {}).get("grade_id"))

    def _record(self, event: str, **details) -> None:
        path = os.environ.get(EVENTS_ENV)
        if path:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"event": event, "notebook": self.notebook_name, **details}) + "\n")
