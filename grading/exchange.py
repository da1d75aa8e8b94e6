"""nbgrader's collect, refusing what a student can plant in the exchange.

Students may write into the exchange's ``inbound/`` folder directly (mode 2733: anybody can add to
it), not only through ``nbgrader submit``. nbgrader 0.9's collect, run by the instructor (from the
formgrader's Collect button or ``nbgrader collect``), then

- copies each submission with ``shutil.copytree``, which follows links: a link planted in a
  submission, or a submission that is itself a link, is read with the instructor's rights (the
  gradebook, other students' submitted work), and a link to ``/dev/zero`` fills the disk;
- only warns when a submission is named after another student than its owner ("cheating
  attempt?"), and collects it as that student's work (unless ``CollectApp.check_owner`` is off,
  which turns the check off here too).

:class:`SafeCollect` is nbgrader's own collect with two changes, through nbgrader's public plugin
point (``c.ExchangeFactory.collect``, set in the course's ``nbgrader_config.py``): a submission
counts only if it is a real folder owned by the student it names (each other is left out, with an
error in the log, and the student's own latest submission is collected instead); and it is copied
as the grader stages submissions (:mod:`grading.staging`): regular files only, read without
following links, within size and count limits, with a warning for whatever was left out.
"""

from __future__ import annotations

import glob
import os
import pwd
import stat
from pathlib import Path

from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.utils import parse_utc

from grading import staging


def inbound_record(path: str) -> dict | None:
    """An inbound entry's name as nbgrader's submit writes it (``user+assignment+timestamp+random``),
    read as nbgrader's collect reads it; ``None`` when it is not such a name."""
    name = os.path.basename(path)
    parts = name.rsplit("+", 3)  # from the right: a user name may hold "+"
    if len(parts) < 3:
        return None
    try:
        timestamp = parse_utc(parts[2])
    except (ValueError, TypeError, OverflowError):
        return None
    return {"username": parts[0], "filename": name, "timestamp": timestamp}


def chosen(records: list[dict], duedate=None) -> dict:
    """The submission collect takes: the latest, or the latest before ``duedate`` when one is
    (else the latest all the same), as nbgrader's ``--before-duedate``."""
    latest_first = sorted(records, key=lambda record: record["timestamp"], reverse=True)
    in_time = [record for record in latest_first if duedate is not None and record["timestamp"] <= duedate]
    return (in_time or latest_first)[0]


class SafeCollect(ExchangeCollect):
    """nbgrader's collect of submissions from the exchange, for an exchange students can write to.
    When it left anything out, it ends failed, after collecting the rest, so that the formgrader's
    Collect dialog shows an error with what was left out, not "Success"."""

    def start(self):
        self.refused: list[str] = []
        result = super().start()
        if self.refused:
            self.fail(f"Collected the other submissions; not collected: {'; '.join(self.refused)}")
        return result

    def init_src(self) -> None:
        super().init_src()
        kept = []
        for record in self.src_records:
            if not self._planted(record):
                kept.append(record)
                continue
            # The student's own submission instead of the one planted in their name, chosen as
            # nbgrader chooses: the latest, or with --before-duedate the latest before the due date.
            pattern = os.path.join(self.inbound_path, f"{glob.escape(record['username'])}+{self.coursedir.assignment_id}+*")
            own = [other for other in map(inbound_record, glob.glob(pattern))
                   if other is not None and not self._planted(other, quiet=True)]
            if own:
                kept.append(chosen(own, getattr(self, "duedate", None) if self.before_duedate else None))
        self.src_records = kept

    def _planted(self, record: dict, quiet: bool = False) -> bool:
        """Whether the inbound entry of ``record`` is not the named student's own folder."""
        path = Path(self.inbound_path) / record["filename"]
        try:
            info = path.lstat()
        except OSError:
            return True
        if not stat.S_ISDIR(info.st_mode):
            why = "it is not a folder (a link?)"
        elif not self.check_owner:  # nbgrader's own switch (e.g. an exchange on a share that maps owners)
            why = None
        else:
            try:
                owner = pwd.getpwuid(info.st_uid).pw_name
            except KeyError:
                owner = f"uid {info.st_uid}"
            why = None if owner == record["username"] else f"it belongs to {owner}, not {record['username']}"
        if why and not quiet:
            self.log.error("Not collected: %s: %s", path, why)
            self.refused.append(f"{record['filename']} ({why})")
        return why is not None

    def do_copy(self, src, dest, log=None) -> None:
        for note in staging.stage(Path(src), Path(dest)):
            self.log.warning("Left out of %s: %s", src, note)
