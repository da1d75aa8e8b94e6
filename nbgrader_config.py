"""nbgrader settings for the CIFAR-10 course; run nbgrader commands from this folder.

Each setting answers a fact in ../shared/docs/nbgrader-notes.md (read from the nbgrader 0.9
sources); the README's instructor section explains the workflow.
"""

from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput, SaveAutoGrades

from cifar10_course.training import TRAINED_MODELS, weights_path
from grading.execute import GuardedExecute
from grading.sandbox import SandboxedKernelManager
from grading.verdicts import ApplyVerdicts

c = get_config()  # noqa: F821  (nbgrader provides get_config)

c.CourseDirectory.course_id = "cifar10-keras"

# Grading never trains (the training cells load the student's saved weights), so the slowest cell
# is predicting 10,000 test images with the CNN: about 6 s on 2 CPU cores. 120 s leaves room for a
# slow machine and still stops an endless loop. nbgrader's default, 30 s, is too close.
c.Execute.timeout = 120

# Kernels talk to nbgrader over Unix sockets in Jupyter's runtime folder instead of TCP ports on
# localhost: no port another user of the machine can connect to, and no "running over TCP without
# encryption" warning from every kernel in the instructor's output (see grading/kernels.py). Under
# `python -m grading grade` each kernel also starts inside the sandbox (grading/sandbox.py).
c.Execute.kernel_manager_class = SandboxedKernelManager

# nbgrader's autograde steps, with its Execute replaced by one that collects the evidence for the
# graded tests, grades a notebook whose kernel died as it is, keeps a time budget per notebook and
# caps every kind of output (grading/execute.py); and, just before nbgrader records the scores,
# the checker's verdicts in place of whatever the kernel reported for the graded cells
# (grading/verdicts.py, grading/checker/): no score is decided in the student's process.
c.Autograde.autograde_preprocessors = [GuardedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                       ApplyVerdicts, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]

# TensorFlow, absl and Keras's warnings write to stderr; they are noise in the graded notebook and
# the feedback, so every stderr output is dropped (it no longer decides a score either way).
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"[\s\S]"

# A student who deletes a test cell gets it back (and is graded on it), instead of losing it silently.
c.OverwriteCells.add_missing_cells = True

# Trained weights are the student's work: the instructor's copies, if any lie in source/, must not
# overwrite them at autograde. (Release generation copies a clean source tree; see grading.course.)
c.Autograde.exclude_overwriting = {
    "cifar10": [str(weights_path(part, variant)) for part, variant in TRAINED_MODELS],
}

# Students' outputs and markdown may hold HTML: the feedback pages and the formgrader sanitise it
# (nbconvert's setting for outputs; grading.feedback.SanitizeMarkdown for markdown cells, which
# nbgrader's templates render unsanitised), so that no script a student wrote runs when an
# instructor or a student opens a page.
c.HTMLExporter.sanitize_html = True
c.HTMLExporter.preprocessors = ["grading.feedback.SanitizeMarkdown"]
