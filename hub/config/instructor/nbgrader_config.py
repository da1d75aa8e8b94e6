"""nbgrader's settings for the instructor on the hub: the course's own nbgrader_config.py, at the
root of the instructor's copy of the course, with that root, the course id and the exchange of the
hub (course.json beside this file, written by python hub/course_hub.py). The instructor's server starts
in the home folder, where nbgrader would otherwise look for the course."""

import json
from pathlib import Path

course = json.loads((Path(__file__).parent / "course.json").read_text())
c = get_config()  # noqa: F821  (nbgrader provides get_config)
load_subconfig(str(Path(course["root"]) / "nbgrader_config.py"))  # noqa: F821
c.CourseDirectory.root = course["root"]
c.CourseDirectory.course_id = course["course_id"]
c.Exchange.root = course["exchange"]
