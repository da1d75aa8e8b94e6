"""nbgrader settings for the CIFAR-10 course; run nbgrader commands from this folder.

The reasons behind each setting are in the README's instructor section; the facts they rest on
(read from the nbgrader 0.9 sources) are in ../shared/docs/nbgrader-notes.md.
"""

c = get_config()  # noqa: F821  (nbgrader provides get_config)

c.CourseDirectory.course_id = "cifar10-keras"
