"""The course's gradebook: scores, hand grades kept across a regrade, and the removal of an old
grading before a new one (nbgrader's ``Gradebook`` API)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from grading import staging
from grading.course import ASSIGNMENT, COURSE_ID, gradebook_url


def forget_grading(course: Path, student: str, database: str | None = None) -> None:
    """Remove every trace of a student's earlier grading: scores, graded notebooks and feedback.

    Done before a changed submission is graded, so that a grading that fails leaves no score of the
    old submission beside the new notebook.
    """
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(gradebook_url(course, database), COURSE_ID) as gradebook:
        try:
            gradebook.remove_submission(ASSIGNMENT, student)
        except MissingEntry:
            pass
    for folder in ("autograded", "feedback"):
        staging.remove(course / folder / student / ASSIGNMENT)


def _answers(course: Path, student: str, notebook: str) -> dict[str, str]:
    """A digest of each nbgrader cell's source in the student's graded notebook, by grade id."""
    path = course / "autograded" / student / ASSIGNMENT / f"{notebook}.ipynb"
    try:
        cells = nbformat.read(path, as_version=4).cells
    except Exception:  # no graded notebook (a failed grading), or one that cannot be read
        return {}
    return {cell.metadata["nbgrader"]["grade_id"]: hashlib.sha256(cell.source.encode()).hexdigest()
            for cell in cells if isinstance(cell.metadata.get("nbgrader"), dict) and "grade_id" in cell.metadata.nbgrader}


def hand_grades(course: Path, student: str, database: str | None = None) -> list[dict]:
    """What the instructor gave the student's submission by hand: points (also over an automatic
    score), extra credit and comments, each with a digest of the answer it was given for."""
    from nbgrader.api import Gradebook, MissingEntry

    kept = []
    with Gradebook(gradebook_url(course, database), COURSE_ID) as gradebook:
        try:
            submission = gradebook.find_submission(ASSIGNMENT, student)
        except MissingEntry:
            return []
        for notebook in submission.notebooks:
            answers = _answers(course, student, notebook.name)
            for grade in notebook.grades:
                if grade.manual_score is not None or grade.extra_credit:
                    kept.append({"kind": "grade", "notebook": notebook.name, "cell": grade.name,
                                 "automatic": grade.auto_score is not None, "manual_score": grade.manual_score,
                                 "extra_credit": grade.extra_credit, "answer": answers.get(grade.name)})
            for comment in notebook.comments:
                if comment.manual_comment:
                    kept.append({"kind": "comment", "notebook": notebook.name, "cell": comment.name,
                                 "manual_comment": comment.manual_comment, "answer": answers.get(comment.name)})
    return kept


def restore_hand_grades(course: Path, student: str, kept: list[dict], unchanged: bool,
                        database: str | None = None) -> list[str]:
    """Give the new grading of the submission the hand grades ``kept`` from its last one: all of
    them when the submission is ``unchanged``; else those of answers whose source did not change
    (points over an automatic score only when nothing changed). Returns a line for each one not
    carried over, for the instructor: that answer waits for grading again."""
    from nbgrader.api import Gradebook, MissingEntry

    dropped = []
    answers = {}
    with Gradebook(gradebook_url(course, database), COURSE_ID) as gradebook:
        for entry in kept:
            notebook, cell = entry["notebook"], entry["cell"]
            if notebook not in answers:
                answers[notebook] = _answers(course, student, notebook)
            same = unchanged or (not entry.get("automatic") and entry.get("answer") is not None
                                 and answers[notebook].get(cell) == entry["answer"])
            try:
                if entry["kind"] == "grade":
                    grade = gradebook.find_grade(cell, notebook, ASSIGNMENT, student)
                    if same:
                        grade.manual_score, grade.extra_credit = entry["manual_score"], entry["extra_credit"]
                        grade.needs_manual_grade = False
                elif same:
                    gradebook.find_comment(cell, notebook, ASSIGNMENT, student).manual_comment = entry["manual_comment"]
            except MissingEntry:
                same = False
            if not same and (entry["kind"] == "grade" or not any(
                    other["kind"] == "grade" and other["cell"] == cell for other in kept)):
                changed = "the submission" if entry.get("automatic") else "the answer"
                dropped.append(f"hand grade of {notebook}/{cell} not carried over: {changed} changed since, grade it again")
        gradebook.db.commit()
    return dropped


@dataclass
class NotebookScore:
    score: float
    max_score: float
    grades: dict[str, float | None] = field(default_factory=dict)  # grade_id -> score (None: to grade by hand)


def scores(course: Path, database: str | None = None) -> dict[str, dict[str, NotebookScore]]:
    """Scores in the gradebook (``database``, else the course's SQLite file): student -> notebook
    -> :class:`NotebookScore`."""
    from nbgrader.api import Gradebook

    result: dict[str, dict[str, NotebookScore]] = {}
    with Gradebook(gradebook_url(course, database), COURSE_ID) as gradebook:
        for submission in gradebook.assignment_submissions(ASSIGNMENT):
            notebooks = result.setdefault(submission.student.id, {})
            for notebook in submission.notebooks:
                notebooks[notebook.name] = NotebookScore(
                    notebook.score, notebook.max_score,
                    {grade.name: (None if grade.needs_manual_grade else grade.score) for grade in notebook.grades},
                )
    return result


def set_manual_grade(course: Path, student: str, notebook: str, grade_id: str, points: float) -> None:
    """Record an instructor's mark for a hand-graded cell, as the formgrader would."""
    from nbgrader.api import Gradebook

    with Gradebook(gradebook_url(course), COURSE_ID) as gradebook:
        grade = gradebook.find_grade(grade_id, notebook, ASSIGNMENT, student)
        grade.manual_score = points
        grade.needs_manual_grade = False
        gradebook.db.commit()
