"""What an instructor sets for grading, in the course's ``nbgrader_config.py``: the sandbox's
limits, the budgets and the signals' thresholds, as traitlets, beside nbgrader's own settings::

    c.GradingSettings.memory_mb = 8192         # a course whose networks need more
    c.GradingSettings.submission_seconds = 5400

The grader reads them once per run (:func:`load`); ``python -m grading grade`` options (workers,
students) are about one run and stay on its command line. What one notebook may take
(``GuardedExecute.notebook_budget``, ``Execute.timeout``, ...) and the checker's time per test
(``ApplyVerdicts.timeout``) are traitlets of those steps, set in the same file.
"""

from __future__ import annotations

from pathlib import Path

from traitlets import Float, Integer
from traitlets.config import Config, Configurable
from traitlets.config.loader import PyFileConfigLoader

from grading.sandbox import Limits

_LIMITS = Limits()


class GradingSettings(Configurable):
    """``c.GradingSettings.<name>`` in the course's nbgrader_config.py."""

    memory_mb = Integer(_LIMITS.memory_mb, help="MB of memory a submission's kernels may use together.").tag(config=True)
    processes = Integer(_LIMITS.processes, help="Processes and threads a submission may run at once.").tag(config=True)
    cpu_seconds = Integer(_LIMITS.cpu_seconds, help="CPU seconds one notebook's kernel may use.").tag(config=True)
    file_mb = Integer(_LIMITS.file_mb, help="MB of the largest file a kernel may write.").tag(config=True)
    disk_mb = Integer(_LIMITS.disk_mb, help="MB of a kernel's private folder (its copy, /tmp, home).").tag(config=True)
    files = Integer(_LIMITS.files, help="Files and folders in a kernel's private folder.").tag(config=True)
    checker_memory_mb = Integer(_LIMITS.checker_memory_mb, help="MB of memory of the checker process.").tag(config=True)
    grader_memory_mb = Integer(_LIMITS.grader_memory_mb, help="MB of memory of a submission's nbgrader "
                               "process.").tag(config=True)
    submission_seconds = Integer(3600, help="Wall-clock seconds one submission's grading may take.").tag(config=True)
    attempts = Integer(3, help="Tries of a grading that the machine (not the submission) stopped.").tag(config=True)
    feedback_seconds = Integer(300, help="Seconds one student's feedback may take to write.").tag(config=True)
    feedback_page_mb = Integer(20, help="MB of the largest feedback page handed out.").tag(config=True)
    shown_accuracy_gap = Float(0.02, help="Signal when the accuracy a notebook printed and the one measured at "
                               "grading differ by more (the notebook prints 4 decimals; the same weights give "
                               "the same accuracy to about 1e-4).").tag(config=True)
    test_margin = Float(0.05, help="Signal a network this much better on test images than on a sample of 2,000 "
                        "training images (that sample's own noise is about 0.011, one standard "
                        "deviation).").tag(config=True)

    def limits(self, cpu_cores: float) -> Limits:
        """The sandbox's limits for one submission, with ``cpu_cores`` of CPU share."""
        return Limits(memory_mb=self.memory_mb, processes=self.processes, cpu_cores=cpu_cores,
                      cpu_seconds=self.cpu_seconds, file_mb=self.file_mb, disk_mb=self.disk_mb, files=self.files,
                      checker_memory_mb=self.checker_memory_mb, grader_memory_mb=self.grader_memory_mb)


def load(course: Path) -> GradingSettings:
    """The settings of the course folder ``course`` (its nbgrader_config.py; the defaults without one)."""
    path = Path(course) / "nbgrader_config.py"
    config = PyFileConfigLoader(path.name, path=str(path.parent)).load_config() if path.is_file() else Config()
    return GradingSettings(config=config)
