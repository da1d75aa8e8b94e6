"""The formgrader's Autograde button (grading/formgrader.py) shows the grading run's whole log."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

from grading.formgrader import GradingJob
from grading.protocol.progress import read_progress
from grading.report import WORK

# A stand-in for `python -m grading grade`: it writes its final progress, then (as the real one
# does) prints its summary.
RUN = """import json, os, sys, time
with open(sys.argv[1], "w") as progress:
    json.dump({"pid": os.getpid(), "finished": True, "done": 1, "failed": 0}, progress)
time.sleep(1)
print("1 submissions in 1 s: 1 graded, 0 unchanged, 0 failed", flush=True)
"""


def test_the_log_shown_holds_what_the_run_printed_after_its_progress_said_finished(tmp_path):
    job = GradingJob(str(tmp_path))
    (tmp_path / WORK).mkdir()
    with open(job.log, "w") as log:
        process = subprocess.Popen([sys.executable, "-c", RUN, str(job.progress)], stdout=log)
    deadline = time.monotonic() + 30
    while read_progress(job.progress) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    state = asyncio.run(job.finished())
    assert state["finished"] and not state["running"]
    assert "1 graded" in job.log.read_text()
    process.wait()
