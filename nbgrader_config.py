"""nbgrader settings for the CIFAR-10 course; run nbgrader commands from this folder.

Each setting answers a fact in ../shared/docs/nbgrader-notes.md (read from the nbgrader 0.9
sources); the README's instructor section explains the workflow.
"""

import os
import runpy
import sys
from pathlib import Path

from nbgrader.converters import Autograde
from nbgrader.preprocessors import Execute, SaveAutoGrades

from cifar10_course.training import TRAINED_MODELS, weights_path
from grading.execute import GuardedExecute
from grading.sandbox import SandboxedKernelManager
from grading.verdicts import ApplyVerdicts

c = get_config()  # noqa: F821  (nbgrader provides get_config)

c.CourseDirectory.course_id = "cifar10-keras"

# nbgrader runs `alembic` when it creates a gradebook: from this environment's bin, even when the
# environment is not activated (the formgrader otherwise answers HTTP 500).
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])

# What decides whether a test passes, shared with students' Validate button: the cell timeout and
# dropping stderr, in the assignment's own nbgrader_config.py (source/cifar10/, beside the course
# package), which nbgrader copies into the release for students. Loaded from there, not repeated.
# traitlets runs this file with __file__ set; the course folder holds source/ also where the grader
# and the course package are installed from a wheel.
SHARED_SETTINGS = Path(__file__).resolve().parent / "source" / "cifar10" / "nbgrader_config.py"
runpy.run_path(str(SHARED_SETTINGS), init_globals={"get_config": lambda: c})

# Kernels talk to nbgrader over Unix sockets in Jupyter's runtime folder instead of TCP ports on
# localhost: no port another user of the machine can connect to, and no "running over TCP without
# encryption" warning from every kernel in the instructor's output (see grading/sandbox/kernels.py). Under
# `python -m grading grade` each kernel also starts inside the sandbox (grading/sandbox/).
c.Execute.kernel_manager_class = SandboxedKernelManager

# nbgrader's own autograde steps (its default list, read from nbgrader), with its Execute replaced
# by one that collects the evidence for the graded tests, grades a notebook whose kernel died as it
# is, keeps a time budget per notebook and caps every kind of output (grading/execute.py); and,
# just before nbgrader records the scores, the checker's verdicts in place of whatever the kernel
# reported for the graded cells (grading/verdicts.py, grading/checker/): no score is decided in
# the student's process. An nbgrader whose steps lack Execute or SaveAutoGrades stops here.
AUTOGRADE_STEPS = [GuardedExecute if step is Execute else step
                   for step in Autograde.class_traits()["autograde_preprocessors"].default()]
AUTOGRADE_STEPS.insert(AUTOGRADE_STEPS.index(SaveAutoGrades), ApplyVerdicts)
assert GuardedExecute in AUTOGRADE_STEPS, "nbgrader's autograde steps no longer hold its Execute"
c.Autograde.autograde_preprocessors = AUTOGRADE_STEPS

# Students can write into the exchange's inbound folder directly: collect only each student's own
# folders, copied without following links (grading/exchange.py), not nbgrader's copy of anything.
c.ExchangeFactory.collect = "grading.exchange.SafeCollect"

# A student who deletes a test cell gets it back (and is graded on it), instead of losing it silently.
c.OverwriteCells.add_missing_cells = True

# Trained weights are the student's work: the instructor's copies, if any lie in source/, must not
# overwrite them at autograde. (Release generation copies a clean source tree; see grading.course.)
c.Autograde.exclude_overwriting = {
    "cifar10": [str(weights_path(part, variant)) for part, variant in TRAINED_MODELS],
}

# Students' outputs and markdown may hold HTML: the feedback pages and the formgrader sanitise it
# (nbconvert's setting for outputs; grading.feedback.SanitizeOutputs for what outputs' metadata
# would write into a page; grading.feedback.SanitizeMarkdown for markdown cells, which nbgrader's
# templates render unsanitised), so that no script a student wrote runs when an instructor or a
# student opens a page. Feedback pages also carry a Content-Security-Policy that allows no script
# at all (grading.feedback.FeedbackExporter), and so do the formgrader's views of a submission
# (grading.formgrader).
c.HTMLExporter.sanitize_html = True
c.HTMLExporter.preprocessors = ["grading.feedback.SanitizeOutputs", "grading.feedback.SanitizeMarkdown"]
c.GenerateFeedback.exporter_class = "grading.feedback.FeedbackExporter"
