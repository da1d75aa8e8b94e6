"""nbgrader's settings for students on the hub: the course and its exchange (course.json beside
this file, written by python hub/course_hub.py), and the grader's own Validate settings, so that the
Validate button judges a notebook as the grader will."""

import json
from pathlib import Path

course = json.loads((Path(__file__).parent / "course.json").read_text())
c = get_config()  # noqa: F821  (nbgrader provides get_config)
c.CourseDirectory.course_id = course["course_id"]
c.Exchange.root = course["exchange"]
load_subconfig(str(Path(__file__).parent / "grading_settings.py"))  # noqa: F821
