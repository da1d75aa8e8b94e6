"""The channels between the grader's processes, each owned by one module here: what is sent, in
which format, and how it is read back. Standard library and NumPy only, so that every process can
import it (the harvest runs even in the student's kernel, from its source).

============================  ==================================  ==============================
channel                       from -> to                          module
============================  ==================================  ==============================
values (arrays, numbers ...)  every channel below                 :mod:`.codec`
probes: what to ask a kernel  checker's tests -> executor         :mod:`.probes`
the kernel's answers          harvest (student's kernel) -> files :mod:`.harvest`
records and answers files     executor -> checker                 :mod:`.records`
grading events                executor, grader -> grading report  :mod:`.records`
verdicts                      checker -> executor (stdout lines)  :mod:`.messages`
one nbgrader run              grading process <-> grader          :mod:`.results`
a grading run's progress      grader -> formgrader                :mod:`.progress`
============================  ==================================  ==============================
"""
