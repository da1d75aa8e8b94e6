"""The nbgrader settings that decide whether a test passes: the same for your Validate button and
for the grader.

nbgrader's Validate reads only your own configuration: this file when JupyterLab was started in
this folder, or a copy of it in a folder on the Jupyter config path (``JUPYTER_CONFIG_PATH``), which
is where the course's JupyterHub puts it. The instructor's nbgrader_config.py loads this same file,
so a notebook validates as it is graded. It needs nothing but nbgrader, and it changes nothing in
your notebooks: it only tells nbgrader how to run them.
"""

# Seconds a cell may run before nbgrader stops it and the cell fails. Nothing trains while a
# notebook is validated or graded (the training cells load the saved weights); the slowest cell
# predicts 10,000 test images with a convolutional network, about 6 s on 2 CPU cores. nbgrader's
# default, 30 s, is too close to that on a busy machine; 120 s still stops an endless loop.
CELL_TIMEOUT = 120


# TensorFlow, absl and Keras write warnings and log lines to stderr, and nbgrader fails a cell that
# wrote anything there, however right its answer. It decides nothing, and your notebook still shows
# it while you work; where nbgrader runs the notebook, it is dropped:
# - grading drops it with nbgrader's own IgnorePattern step (one of autograde's steps), which
#   matches any text here;
# - Validate runs no such step, so the kernel it starts sends nothing to stderr outputs: its Python
#   stderr and TensorFlow's own log lines go to the process's stderr (the server's log) instead.
STDERR_DROPPED = r"[\s\S]"
QUIET_KERNEL = ["--HistoryManager.hist_file=:memory:", "--IPKernelApp.capture_fd_output=False",
                "--IPKernelApp.exec_lines=['import sys; sys.stderr = sys.__stderr__']"]

c = get_config()  # noqa: F821  (nbgrader provides get_config)
c.Execute.timeout = CELL_TIMEOUT
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = STDERR_DROPPED
c.Validator.Execute.extra_arguments = QUIET_KERNEL  # the Execute step that Validate runs, not grading's
# Validate lists every cell that fails, in the notebook's order, not only the tests: a SyntaxError
# in your own cell comes first, before the tests that fail because of it (NameError).
c.Validator.validate_all = True
