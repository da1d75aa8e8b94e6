"""An instructor's limits, budgets and thresholds, read from the course's nbgrader_config.py."""

from __future__ import annotations

from dataclasses import fields

from grading import course as c
from grading.sandbox import Limits
from grading.settings import GradingSettings, load


def test_an_instructor_sets_the_grading_limits_in_nbgrader_config(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()\nc.GradingSettings.memory_mb = 8192\nc.GradingSettings.submission_seconds = 5400\n"
        "c.GradingSettings.test_margin = 0.1\nc.Execute.timeout = 60\n")
    settings = load(tmp_path)
    assert (settings.memory_mb, settings.submission_seconds, settings.test_margin) == (8192, 5400, 0.1)
    limits = settings.limits(cpu_cores=2.0)
    assert limits.memory_mb == 8192 and limits.cpu_cores == 2.0 and limits.processes == Limits().processes


def test_every_limit_of_the_sandbox_can_be_set_and_defaults_to_the_sandboxs():
    settings = GradingSettings()
    configurable = set(settings.traits(config=True))
    for field in fields(Limits):
        if field.name != "cpu_cores":  # shared out among the workers of a run
            assert field.name in configurable, field.name
            assert getattr(settings, field.name) == getattr(Limits(), field.name)


def test_the_course_reads_its_own_config_and_a_folder_without_one_the_defaults(tmp_path):
    assert load(c.REPO).attempts == GradingSettings().attempts
    assert load(tmp_path).feedback_seconds == GradingSettings().feedback_seconds
