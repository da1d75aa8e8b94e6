"""Signals for the instructor: the ``signals`` column of ``grading_report.csv``. Never a score.

Each names something a person should look at, with the numbers behind it:

- **weights locked**: a cell tried to overwrite the submitted weights while the notebook was
  graded (the sandbox keeps ``trained_models/`` read-only; the submitted file was measured);
- **accuracy differs from the notebook's**: the test accuracy the checker measured is more than
  ``GradingSettings.shown_accuracy_gap`` from the one the submitted notebook printed for the same test images, so the
  weights submitted are not the ones the notebook showed;
- **better on test than on training images**: a network scores ``GradingSettings.test_margin`` more on the
  test images than on a sample of its own training images; honest training does the opposite, so
  it was probably trained on the test images;
- **edited locked cells**: nbgrader found a locked cell (a visible test, given code) changed and
  put the instructor's source back before running it (its log's "Attribute 'checksum' for cell
  ... has changed!"). No notebook holds hidden tests any more (they are the checker's), so this
  warning now only ever means a student's edit; the grade is that of the restored cell;
- **same weights as another student**: a weights file byte-identical to another student's. Every
  student trains with a seed of their own (:func:`cifar10_course.seed_everything`), so honest
  students' files differ; the note says whether their code differs too, and who submitted first
  (nbgrader's ``timestamp.txt``), so the instructor knows whom to look at first.

Everything here reads a submission's staged notebooks as untrusted JSON and never raises on
what it finds there: a reading that fails is reported by the caller as a note.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from pathlib import Path

from cifar10_course.accuracy_checks import ACCURACY_MIME
from cifar10_course.training import WEIGHTS_FOLDER

NAMED = 10  # students named in one signal of identical weights; the rest are counted
TIMESTAMP = "timestamp.txt"  # nbgrader writes the submission's time there


def _cells(folder: Path, name: str):
    """The cells of a staged notebook as JSON dictionaries (none when it cannot be read)."""
    try:
        notebook = json.loads((folder / f"{name}.ipynb").read_text(encoding="utf-8"))
        cells = notebook["cells"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [cell for cell in cells if isinstance(cell, dict)] if isinstance(cells, list) else []


def _text(value) -> str:
    return "".join(map(str, value)) if isinstance(value, list) else str(value or "")


def _nbgrader(cell: dict) -> dict:
    """A cell's nbgrader metadata, or an empty dict when it has none that can be read."""
    metadata = cell.get("metadata")
    found = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return found if isinstance(found, dict) else {}


def shown_accuracies(folder: Path, notebooks: list[str]) -> dict[str, tuple[float, int]]:
    """``"notebook/grade_id" -> (accuracy, test images)`` as the submitted notebooks printed them."""
    shown = {}
    for name in notebooks:
        for cell in _cells(folder, name):
            grade_id = _nbgrader(cell).get("grade_id")
            for output in (cell.get("outputs") or []) if grade_id else []:
                data = output.get("data") if isinstance(output, dict) else None
                found = data.get(ACCURACY_MIME) if isinstance(data, dict) else None
                if not isinstance(found, dict):
                    continue
                accuracy, images = found.get("accuracy"), found.get("test_images")
                if isinstance(accuracy, (int, float)) and isinstance(images, int) and not isinstance(images, bool):
                    shown[f"{name}/{grade_id}"] = (float(accuracy), images)
    return shown


def failed_training(folder: Path, notebooks: list[str]) -> list[str]:
    """Notes for the student on training cells that failed when the student ran the notebook: the
    accuracy test then finds no weights, and the reason is that cell's error, not a missing run."""
    notes = []
    for name in notebooks:
        for cell in _cells(folder, name):
            if "train_or_load(" not in _text(cell.get("source")):
                continue
            for output in cell.get("outputs") or []:
                if isinstance(output, dict) and output.get("output_type") == "error":
                    error = f"{str(output.get('ename'))[:100]}: {str(output.get('evalue'))[:300]}"
                    notes.append(f"{name}: a training cell failed when you ran the notebook ({error}), so it saved no "
                                 "weights: fix that error, run the notebook again, then submit")
                    break
    return notes


def digests(folder: Path, notebooks: list[str]) -> dict:
    """SHA-256 of each submitted weights file and of the code the student wrote (every solution cell)."""
    weights = {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
               for path in sorted((folder / WEIGHTS_FOLDER).glob("*")) if path.is_file() and not path.is_symlink()}
    code = hashlib.sha256()
    for name in notebooks:
        for cell in _cells(folder, name):
            if _nbgrader(cell).get("solution"):
                code.update(" ".join(_text(cell.get("source")).split()).encode())
    return {"weights": weights, "code": code.hexdigest(), "submitted": submission_time(folder)}


def submission_time(folder: Path) -> str | None:
    """When the submission was made, as nbgrader's ``timestamp.txt`` in it says (None without one)."""
    try:
        text = (folder / TIMESTAMP).read_text(encoding="utf-8", errors="replace")[:100].strip()
    except OSError:
        return None
    return text if text.isprintable() and text else None


def from_events(events: list[dict], shown: dict[str, tuple[float, int]], shown_gap: float = 0.02,
                test_margin: float = 0.05) -> list[str]:
    """The signals of one submission from its grading events and the accuracies its notebooks
    showed; ``shown_gap`` and ``test_margin``: see :class:`grading.settings.GradingSettings`."""
    found = []
    refused = sorted({event["notebook"] for event in events if event["event"] == "weights_write_refused"})
    if refused:
        found.append(f"weights locked: a cell of {', '.join(refused)} tried to overwrite {WEIGHTS_FOLDER}/ while graded")
    for event in events:
        if event["event"] != "signals":
            continue
        where = f"{event['notebook']}/{event.get('test')}"
        if event.get("settings_disagree"):
            found.append(f"{where}: the weights file and the kernel's record of the training settings disagree "
                         f"({event['settings_disagree']})")
        if event.get("trained_in_mode"):
            found.append(f"{where}: weights trained in another run mode ({event['trained_in_mode']})")
        if event.get("weights_without_optimizer"):
            found.append(f"{where}: {event['weights_without_optimizer']} holds no optimizer state, as the training cell "
                         "saves it: not saved by the notebook's training cell?")
        if not isinstance(event.get("test_accuracy"), (int, float)):
            continue
        where, measured = f"{event['notebook']}/{event.get('test')}", event["test_accuracy"]
        printed = shown.get(where)
        if printed and printed[1] == event.get("test_images") and abs(printed[0] - measured) > shown_gap:
            found.append(f"{where}: test accuracy {measured:.4f} at grading, {printed[0]:.4f} in the notebook")
        training = event.get("training_sample_accuracy")
        if isinstance(training, (int, float)) and measured - training > test_margin:
            found.append(f"{where}: better on test images ({measured:.4f}) than on training images ({training:.4f}): "
                         "trained on the test images?")
    return found


def restored_cells(cells: list[str]) -> list[str]:
    """The signal of locked cells that nbgrader restored while grading (the cells its log named)."""
    cells = sorted({str(cell) for cell in cells})
    return [f"edited locked cells, restored before grading: {', '.join(cells)}"] if cells else []


def shared_weights(by_student: dict[str, dict]) -> dict[str, list[str]]:
    """Students whose weights file is byte-identical to another student's: ``student -> signals``,
    each saying who submitted that file first (the one the others may have copied)."""
    holders = defaultdict(list)
    for student, found in by_student.items():
        for name, digest in (found.get("weights") or {}).items():
            holders[(name, digest)].append(student)
    signals = defaultdict(list)
    for (name, _), students in sorted(holders.items()):
        if len(students) < 2:
            continue
        when = {student: by_student[student].get("submitted") or "" for student in students}
        first = min(students, key=lambda student: (when[student] == "", when[student], student))
        for student in students:
            others = [other for other in students if other != student]
            for kind in ("same", "different"):
                named = [other for other in others
                         if (by_student[student].get("code") == by_student[other].get("code")) == (kind == "same")]
                if named:
                    more = f" and {len(named) - NAMED} more" if len(named) > NAMED else ""
                    signals[student].append(f"{name} identical to that of {', '.join(named[:NAMED])}{more} ({kind} code, "
                                            f"{_order(student, first, when)})")
    return dict(signals)


def _order(student: str, first: str, when: dict[str, str]) -> str:
    """Who of a group of identical files submitted first, as one signal says it."""
    if not when[first]:
        return "submission times unknown"
    if student == first:
        return f"this submission came first, at {when[student]}"
    return f"{first} submitted it first, at {when[first]}, this one at {when[student] or 'an unknown time'}"
