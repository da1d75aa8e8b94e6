"""Feedback pages: the grading notes page escapes what it shows, and nbconvert, configured as in
``nbgrader_config.py``, renders a student's scripts as inert text (feedback and formgrader alike)."""

from __future__ import annotations

import nbformat
from nbconvert.exporters import HTMLExporter
from traitlets.config import Config

from grading import course as c
from grading.feedback import notes_page

SCRIPT = "<script>document.title = 'pwned'</script>"


def course_config() -> Config:
    """The configuration nbgrader's commands and the formgrader read: the repository's nbgrader_config.py."""
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", path=str(c.REPO)).load_config()


PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def hostile_notebook() -> nbformat.NotebookNode:
    code = nbformat.v4.new_code_cell("display(HTML(...))")
    code.outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": f"<b>hi</b>{SCRIPT}<img src=x onerror=alert(1)>"}),
        nbformat.v4.new_output("display_data", data={"application/javascript": "alert(2)", "text/plain": "js"}),
        nbformat.v4.new_output("display_data", data={"text/markdown": f"*md* {SCRIPT}"}),
        # nbconvert writes an image's width and height unquoted: a space adds an attribute.
        nbformat.v4.new_output("display_data", data={"image/png": PNG},
                               metadata={"image/png": {"width": "1 onerror=alert(3)"}, "height": "2 onload=alert(4)"}),
        nbformat.v4.new_output("display_data", data={"image/svg+xml": f"<svg onload='alert(5)'>{SCRIPT}</svg>"}),
    ]
    markdown = nbformat.v4.new_markdown_cell("[a link](javascript:alert(6)) and no HTML at all\n\n~~~\n\n"
                                             "[in a fence](javascript:alert(7))\n~~~\n")
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# Answer\n{SCRIPT}"), markdown, code])


def test_student_scripts_do_not_survive_into_the_feedback_html():
    config = course_config()
    config.HTMLExporter.template_name = "feedback"  # what generate_feedback sets
    config.HTMLExporter.extra_template_basedirs = [_nbgrader_path("server_extensions", "formgrader", "templates")]
    config.HTMLExporter.extra_template_paths = [_nbgrader_path("server_extensions", "formgrader", "static",
                                                               "node_modules", "bootstrap", "dist", "css")]
    grades = {"nbgrader": {"notebook": "part1_data", "score": 0, "max_score": 0, "late_penalty": 0}}
    html, _ = HTMLExporter(config=config).from_notebook_node(hostile_notebook(), resources=grades)
    assert "<b>hi</b>" in html and "a link" in html  # the harmless markup stays
    assert active_code(html) == []  # no script, event handler or javascript: link


def test_a_feedback_page_allows_no_script_at_all():
    """What nbgrader's generate_feedback writes (GenerateFeedback.exporter_class): a
    Content-Security-Policy before anything of the notebook, allowing no script and no load from
    elsewhere, whatever got past the sanitisers."""
    from grading.feedback import FEEDBACK_POLICY, FeedbackExporter

    config = course_config()
    assert config.GenerateFeedback.exporter_class == "grading.feedback.FeedbackExporter"
    config.HTMLExporter.sanitize_html = False  # as if the sanitisers had missed everything
    config.HTMLExporter.preprocessors = []
    page, _ = FeedbackExporter(config=config).from_notebook_node(hostile_notebook())
    policy = f'<meta http-equiv="Content-Security-Policy" content="{FEEDBACK_POLICY}">'.replace("'", "&#x27;")
    assert page.index(policy) < page.index("<script") and "script-src" not in FEEDBACK_POLICY
    assert "default-src 'none'" in FEEDBACK_POLICY


def test_the_formgrader_reads_the_same_setting():
    """The formgrader renders with HTMLExporter(config=...) from nbgrader's own config loading in the
    course folder; the sanitising template blocks are the same as the feedback's (nbconvert's classic)."""
    import os

    from nbgrader.apps import NbGrader

    app = NbGrader()
    app.config_dir = str(c.REPO)
    cwd = os.getcwd()
    os.chdir(c.REPO)
    try:
        app.load_config_file()
    finally:
        os.chdir(cwd)
    assert app.config.HTMLExporter.sanitize_html is True


def test_without_the_settings_the_scripts_would_run():
    """The test above can fail: nbconvert's defaults keep the scripts."""
    html, _ = HTMLExporter().from_notebook_node(hostile_notebook())
    assert len(active_code(html)) >= 3


def active_code(page: str) -> list[str]:
    """The student's code a browser would run in ``page``: its scripts and event handlers."""
    from html.parser import HTMLParser

    found = []

    class Finder(HTMLParser):
        in_script = False

        def handle_starttag(self, tag, attrs):
            self.in_script = tag == "script"
            found.extend(value for name, value in attrs if name.startswith("on") and "alert" in (value or ""))
            found.extend(value for name, value in attrs if name in ("href", "src") and "javascript:" in (value or ""))

        def handle_data(self, data):
            if self.in_script and ("pwned" in data or "alert" in data):
                found.append(data)

        def handle_endtag(self, tag):
            self.in_script = False

    Finder().feed(page)
    return found


def test_notes_page_escapes_and_says_why_grading_failed():
    page = notes_page("demo_<x>", {"status": "failed", "reason": "grading stopped after 10 s <b>",
                                   "notes": f"a.ipynb was left out: it is a symbolic link; submit the file\n{SCRIPT}\n"
                                            "part2: a training cell failed (\x1b[0;31mValueError\x1b[0m: lr)"})
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "could not be graded, so no score was recorded" in page and "grading stopped after 10 s &lt;b&gt;" in page
    assert page.count("<li>") == 3 and "symbolic link; submit the file</li>" in page  # one note, one item
    assert "\x1b" not in page and "(ValueError: lr)" in page


def _nbgrader_path(*parts: str) -> str:
    """A folder of nbgrader's, as nbgrader's feedback and formgrader point nbconvert at it."""
    import os

    import nbgrader

    return os.path.join(os.path.dirname(nbgrader.__file__), *parts)
