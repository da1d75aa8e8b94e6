"""Feedback for every student, bounded: ``python -m grading feedback``.

nbgrader's ``generate_feedback`` for a whole class checks every file of every graded folder
against a fresh directory listing, so its cost grows with the square of the files a class holds,
and one pathological submission stalls everyone's feedback. Here each student's feedback is a run
of its own (``--student``), with a time limit, that converts only the graded notebooks (no other
file of the submission is copied into the feedback); the cost grows with the class, linearly.
Student output in the HTML is sanitised (``HTMLExporter.sanitize_html`` in ``nbgrader_config.py``),
and so is the raw HTML of markdown cells (:class:`SanitizeMarkdown`): no script a student wrote
or printed runs when the page is opened, by the student or in the instructor's formgrader.

Beside the notebooks' pages, :data:`NOTES_PAGE` tells the student what grading said about the
submission as a whole: files left out when it was staged, notebooks that could not be read, kernel
deaths, or why grading failed (then it is the only page).
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import bleach
from nbconvert.exporters import HTMLExporter
from nbconvert.filters import markdown2html
from nbconvert.preprocessors import Preprocessor

from grading import course as c
from grading.report import NOTES_SEPARATOR, receipt_path
from grading import settings as grading_settings

NOTES_PAGE = "grading_notes.html"


@dataclass
class FeedbackResult:
    student: str
    status: str  # "written", "notes only" or "failed"
    reason: str = ""


def generate(course: Path, students: list[str] | None = None, timeout: int | None = None,
             database: str | None = None, workers: int | None = None) -> list[FeedbackResult]:
    """Write ``feedback/<student>/cifar10/`` for every graded (or failed) student, ``workers`` at
    once (default: one per CPU), each within ``timeout`` seconds and a largest page (default: the
    course's :class:`grading.settings.GradingSettings`); returns what happened to each, in the
    order of ``students``."""
    course = Path(course)
    configured = grading_settings.load(course)
    limits = (timeout or configured.feedback_seconds, configured.feedback_page_mb * 2**20)
    if students is None:
        graded = {p.parent.name for p in (course / "autograded").glob(f"*/{c.ASSIGNMENT}")}
        receipts = {p.stem for p in receipt_path(course, "x").parent.glob("*.json")}
        students = sorted(graded | receipts)
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        return list(pool.map(lambda student: _feedback(course, student, *limits, database), students))


def _feedback(course: Path, student: str, timeout: int, max_page_bytes: int, database: str | None) -> FeedbackResult:
    outcome = _receipt_outcome(course, student)
    target = course / "feedback" / student / c.ASSIGNMENT
    result = FeedbackResult(student, "notes only")
    if (course / "autograded" / student / c.ASSIGNMENT).is_dir():
        result = _nbgrader_feedback(course, student, timeout, max_page_bytes, database)
    if outcome is not None and (outcome.get("notes") or outcome.get("status") == "failed"):
        target.mkdir(parents=True, exist_ok=True)
        (target / NOTES_PAGE).write_text(notes_page(student, outcome))
    return result


def _nbgrader_feedback(course: Path, student: str, timeout: int, max_page_bytes: int,
                       database: str | None) -> FeedbackResult:
    command = [sys.executable, "-m", "grading.run_nbgrader", "generate_feedback", c.ASSIGNMENT, "--force", f"--student={student}",
               "--CourseDirectory.ignore=['*']", *c.database_option(database)]
    try:
        run = subprocess.run(command, cwd=course, env=c.grading_env({}), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return FeedbackResult(student, "failed", f"feedback took longer than {timeout} s")
    if run.returncode != 0:
        return FeedbackResult(student, "failed", (run.stdout + run.stderr)[-500:])
    for page in (course / "feedback" / student / c.ASSIGNMENT).glob("*.html"):
        if page.stat().st_size > max_page_bytes:
            page.write_text(notes_page(student, {"notes": f"{page.stem}'s feedback page was larger than "
                                                 f"{max_page_bytes // 2**20} MB; ask your instructor for it."}))
    return FeedbackResult(student, "written")


def _receipt_outcome(course: Path, student: str) -> dict | None:
    try:
        return json.loads(receipt_path(course, student).read_text())["outcome"]
    except (OSError, ValueError, KeyError):
        return None


ANSI_CODES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # a terminal's colours, in errors printed by Keras or IPython


def notes_page(student: str, outcome: dict) -> str:
    """A small HTML page of what grading said about the submission as a whole (escaped text,
    one item per note, without terminal colour codes)."""
    items = [ANSI_CODES.sub("", note) for note in str(outcome.get("notes") or "").split(NOTES_SEPARATOR) if note]
    failed = outcome.get("status") == "failed"
    lines = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'><title>Grading notes</title></head><body>",
             f"<h1>Grading notes for {html.escape(student)}</h1>"]
    if failed:
        lines.append("<p><strong>Your submission could not be graded, so no score was recorded for it.</strong> "
                     f"Why: {html.escape(str(outcome.get('reason') or 'unknown'))}. Your instructor has been told.</p>")
    if items:
        lines.append("<p>When your submission was graded:</p><ul>")
        lines += [f"<li>{html.escape(item)}</li>" for item in items]
        lines.append("</ul>")
    lines.append("</body></html>")
    return "\n".join(lines) + "\n"


# Markup a student's markdown may keep in feedback and the formgrader: formatting, tables, links
# and images, never scripts, event handlers, styles or frames. Links go to http(s) or mail only;
# images may also be inline data of a raster format (an SVG in an <img> runs no script either).
SAFE_TAGS = ["a", "abbr", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6",
             "hr", "i", "img", "li", "ol", "p", "pre", "span", "strong", "sub", "sup", "table", "tbody", "td", "th",
             "thead", "tr", "ul"]
SAFE_PROTOCOLS = ["http", "https", "mailto"]
IMAGE_DATA = re.compile(r"data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*", re.I)


def _allowed_attribute(tag: str, name: str, value: str) -> bool:
    if name in ("class", "id", "title"):
        return True
    if tag == "a" and name == "href":
        return _safe_url(value)
    if tag == "img" and name in ("src", "alt"):
        return name == "alt" or _safe_url(value) or bool(IMAGE_DATA.fullmatch(value.strip()))
    return False


def _safe_url(value: str) -> bool:
    scheme = re.match(r"\s*([A-Za-z][A-Za-z0-9+.-]*):", value)
    return scheme is None or scheme.group(1).lower() in SAFE_PROTOCOLS  # relative links, anchors, http(s), mail


def clean_markdown(source: str) -> str:
    """A markdown cell as sanitised HTML, on one line inside a ``<div>``: rendered again as
    markdown (the templates do), it passes through unchanged, so no construct of markdown can
    bring back what the sanitiser took out."""
    cleaned = bleach.clean(markdown2html(source), tags=SAFE_TAGS, attributes=_allowed_attribute,
                           protocols=[*SAFE_PROTOCOLS, "data"], strip=False)
    return "<div>" + cleaned.replace("\r", "").replace("\n", "&#10;") + "</div>"


class SanitizeMarkdown(Preprocessor):
    """Render every markdown cell to sanitised HTML (:func:`clean_markdown`) before a page is made.

    nbconvert's ``HTMLExporter.sanitize_html`` cleans outputs, but nbgrader's feedback and
    formgrader templates render markdown cells without it, so a written answer holding a
    ``<script>``, an event handler or a ``javascript:`` link would run in the instructor's browser.
    """

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "markdown":
            cell.source = clean_markdown(cell.source)
            cell.pop("attachments", None)
        return cell, resources


# What an output may carry to the page: its data of these types (every other type is dropped) and,
# for images, a numeric size, an alt text and whether it is unconfined. Anything else in an output's
# metadata is dropped: nbconvert writes an image's width and height into the page unquoted, and
# its file names as the image's address.
SAFE_OUTPUT_TYPES = {"text/plain", "text/html", "text/markdown", "text/latex", "image/png", "image/jpeg",
                     "image/svg+xml", "application/json"}
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml")


def _image_metadata(metadata) -> dict:
    kept = {}
    if not isinstance(metadata, dict):
        return kept
    for key in ("width", "height"):
        value = metadata.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 100_000:
            kept[key] = value
    if isinstance(metadata.get("unconfined"), bool):
        kept["unconfined"] = metadata["unconfined"]
    if isinstance(metadata.get("alt"), str):
        kept["alt"] = metadata["alt"][:1000]
    return kept


def clean_output(output) -> None:
    """Keep of one output only what :data:`SAFE_OUTPUT_TYPES` and image metadata allow, in place."""
    if output.get("output_type") not in ("display_data", "execute_result"):
        return
    data = output.get("data")
    output["data"] = {kind: value for kind, value in (data.items() if isinstance(data, dict) else [])
                      if kind in SAFE_OUTPUT_TYPES}
    metadata = output.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    kept = _image_metadata(metadata)
    for kind in IMAGE_TYPES:
        if kind in output["data"] and isinstance(metadata.get(kind), dict):
            kept[kind] = _image_metadata(metadata[kind])
    output["metadata"] = kept


class SanitizeOutputs(Preprocessor):
    """Drop from every output what a page would show unsanitised (:func:`clean_output`)."""

    def preprocess_cell(self, cell, resources, index):
        for output in cell.get("outputs", []):
            clean_output(output)
        return cell, resources


# Feedback pages need no script and load nothing from elsewhere: whatever got past the sanitisers
# above cannot run or call out when a student or an instructor opens one.
FEEDBACK_POLICY = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "
                   "base-uri 'none'; form-action 'none'")


PAGES_CSS = Path(__file__).resolve().parent / "static" / "pages.css"  # long messages wrap


def with_policy(page: str, policy: str = FEEDBACK_POLICY) -> str:
    """``page`` with a Content-Security-Policy ``<meta>`` as the first element of its head (the
    template's own head: it comes before anything of the notebook's), and the course's styles."""
    meta = (f'<meta http-equiv="Content-Security-Policy" content="{html.escape(policy)}">'
            f"<style>{PAGES_CSS.read_text()}</style>")
    head = re.search(r"<head[^>]*>", page, re.I)
    if head is None:
        return meta + page
    return page[:head.end()] + meta + page[head.end():]


class FeedbackExporter(HTMLExporter):
    """nbgrader's feedback pages (``GenerateFeedback.exporter_class``), each with
    :data:`FEEDBACK_POLICY`: no script runs in them, whatever a student's notebook holds."""

    def from_notebook_node(self, nb, resources=None, **kw):
        output, resources = super().from_notebook_node(nb, resources, **kw)
        return with_policy(output), resources
