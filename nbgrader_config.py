"""nbgrader settings for the CIFAR-10 course; run nbgrader commands from this folder.

Each setting answers a fact in ../shared/docs/nbgrader-notes.md (read from the nbgrader 0.9
sources); the README's instructor section explains the workflow.
"""

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import GetGrades

from cifar10_course.training import TRAINED_MODELS, weights_path
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput, SaveAutoGrades

from grading.execute import GuardedExecute
from grading.feedback import HideHiddenTests
from grading.sandbox import SandboxedKernelManager

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

# nbgrader's autograde steps, with its Execute replaced by one that grades a notebook whose kernel
# died as it is, keeps a time budget per notebook, caps output and checks that no test ran with
# replaced library functions (grading/execute.py, grading/guard.py).
c.Autograde.autograde_preprocessors = [GuardedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                       SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]

# A grade cell that writes anything to stderr scores 0, even when it passed. TensorFlow, absl and
# Keras's warnings write there, so every stderr output is dropped before grading: a test's verdict
# is its exception, or none.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"[\s\S]"

# A student who deletes a test cell gets it back (and is graded on it), instead of losing it silently.
c.OverwriteCells.add_missing_cells = True

# Trained weights are the student's work: the instructor's copies, if any lie in source/, must not
# overwrite them at autograde. (Release generation copies a clean source tree; see grading.course.)
c.Autograde.exclude_overwriting = {
    "cifar10": [str(weights_path(part, variant)) for part, variant in TRAINED_MODELS],
}

# Feedback shows each hidden test's name, points and message, but not its code.
c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
