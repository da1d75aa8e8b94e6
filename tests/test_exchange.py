"""Collecting from nbgrader's exchange when students can write into it (grading/exchange.py).

Real ``nbgrader collect`` with the course's config, on an exchange laid out as nbgrader's submit
leaves it, with entries a student can plant in ``inbound/`` without nbgrader (it is writable by
everybody): a submission in another student's name, a submission that is a link to another
student's submitted work, and links inside their own submission to a file only the instructor may
read and to a FIFO. Run as root (CI is), which owns the planted entries' targets; the
students are the system's ``nobody`` and ``daemon``.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from grading import course as c

COURSE_ID = "cifar10-keras"


def submission(inbound: Path, name: str, owner: str, timestamp: str) -> Path:
    """An inbound entry as nbgrader's submit names it, owned by ``owner``."""
    folder = inbound / f"{name}+{c.ASSIGNMENT}+{timestamp}+abc123"
    folder.mkdir()
    (folder / "part1_data.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    (folder / "timestamp.txt").write_text(timestamp)
    user = pwd.getpwnam(owner)
    for path in (folder, *folder.iterdir()):
        os.chown(path, user.pw_uid, user.pw_gid)
    return folder


@pytest.mark.slow  # starts processes
def test_collect_takes_only_each_students_own_folders_and_follows_no_link(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the planted entries belong to other users: run as root (CI does)")
    course = c.new_course(tmp_path / "course", ["part1_data"])
    exchange = tmp_path / "exchange"
    inbound = exchange / COURSE_ID / "inbound"
    inbound.mkdir(parents=True)
    secret = tmp_path / "instructor_only.txt"
    secret.write_text("the instructor's secret")
    secret.chmod(0o600)
    daemon_work = course / "submitted" / "daemon" / c.ASSIGNMENT
    daemon_work.mkdir(parents=True)
    (daemon_work / "part1_data.ipynb").write_text("daemon's own work")

    honest = submission(inbound, "nobody", "nobody", "2026-12-01 10:00:00.000000 UTC")
    (honest / "notes.txt").symlink_to(secret)
    # A link to a special file. (Not /dev/zero: a collect that follows it writes zeros until the
    # disk is full, as nbgrader's own did here, 53 GB, while this test was written.)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    (honest / "zeros.bin").symlink_to(fifo)
    # nobody again, later, in daemon's name: not daemon's work.
    submission(inbound, "daemon", "nobody", "2026-12-02 10:00:00.000000 UTC")
    # A "submission" that is a link to daemon's submitted work, in the name of a third student.
    (inbound / f"bin+{c.ASSIGNMENT}+2026-12-03 10:00:00.000000 UTC+abc123").symlink_to(daemon_work.parent)

    with pytest.raises(c.GradingError) as failed:  # it says so: the formgrader shows an error, not "Success"
        c.nbgrader(course, "collect", c.ASSIGNMENT, f"--Exchange.root={exchange}",
                   f"--CourseDirectory.course_id={COURSE_ID}", "--update")
    log = str(failed.value)
    assert "Collected the other submissions; not collected: daemon+" in log, log
    collected = course / "submitted" / "nobody" / c.ASSIGNMENT
    assert sorted(p.name for p in collected.iterdir()) == ["part1_data.ipynb", "timestamp.txt"], log
    assert "notes.txt was left out: it is a symbolic link" in log and "zeros.bin was left out" in log, log
    assert "it belongs to nobody, not daemon" in log, log
    assert (daemon_work / "part1_data.ipynb").read_text() == "daemon's own work"  # not replaced
    assert not (course / "submitted" / "bin").exists(), log
    assert "is not a folder" in log, log
    assert "the instructor's secret" not in "".join(p.read_text() for p in collected.iterdir())


@pytest.mark.slow  # starts processes
def test_a_planted_submission_gives_way_to_the_students_own_chosen_as_nbgrader_chooses(tmp_path):
    """In place of a submission planted in a student's name, collect takes the student's own, the
    latest or, with --before-duedate, the latest before the due date (nbgrader's rule)."""
    if os.geteuid() != 0:
        pytest.skip("the planted entries belong to other users: run as root (CI does)")
    course = c.new_course(tmp_path / "course", ["part1_data"])
    c.nbgrader(course, "db", "assignment", "add", c.ASSIGNMENT, "--duedate=2026-12-02 00:00:00 UTC")
    exchange = tmp_path / "exchange"
    inbound = exchange / COURSE_ID / "inbound"
    inbound.mkdir(parents=True)
    submission(inbound, "daemon", "daemon", "2026-12-01 10:00:00.000000 UTC")
    submission(inbound, "daemon", "daemon", "2026-12-03 10:00:00.000000 UTC")
    submission(inbound, "daemon", "nobody", "2026-12-01 12:00:00.000000 UTC")  # planted: the latest in time
    collect = ["collect", c.ASSIGNMENT, f"--Exchange.root={exchange}", f"--CourseDirectory.course_id={COURSE_ID}", "--update"]
    timestamp = course / "submitted" / "daemon" / c.ASSIGNMENT / "timestamp.txt"
    with pytest.raises(c.GradingError, match="it belongs to nobody, not daemon"):
        c.nbgrader(course, *collect, "--before-duedate")
    assert timestamp.read_text() == "2026-12-01 10:00:00.000000 UTC"  # not the later one, after the due date
    c.nbgrader(course, *collect)  # the latest is daemon's own: nothing planted is chosen
    assert timestamp.read_text() == "2026-12-03 10:00:00.000000 UTC"


def test_inbound_names_are_read_as_nbgrader_reads_them():
    from datetime import datetime

    from grading.exchange import chosen, inbound_record

    record = inbound_record(f"/x/a+b+{c.ASSIGNMENT}+2026-12-01 10:00:00.000000 UTC+abc")
    assert record == {"username": "a+b", "filename": f"a+b+{c.ASSIGNMENT}+2026-12-01 10:00:00.000000 UTC+abc",
                      "timestamp": datetime(2026, 12, 1, 10)}
    assert inbound_record("/x/no-plus-signs") is None and inbound_record("/x/a+b+not a time+c") is None
    early, late = ({"timestamp": datetime(2026, 12, day)} for day in (1, 3))
    assert chosen([early, late]) is late and chosen([early, late], datetime(2026, 12, 2)) is early
    assert chosen([late], datetime(2026, 12, 2)) is late  # nothing in time: the latest, as nbgrader
