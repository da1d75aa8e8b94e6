"""``python -m grading.run_nbgrader ARGS``: nbgrader's own command line, started 2 s sooner.

rfc3987-syntax (installed with jupyter_events, through jsonschema's format checkers) compiles
three Earley grammars when it is imported: about 2 s of CPU in every process that imports
nbformat's validator, as each grading and feedback process does. nbgrader never checks the syntax
of an IRI, and jsonschema imports the module only to offer that check, so it is blocked here:
jsonschema then has no "iri" format, and everything else is nbgrader as it is.
"""

import sys

sys.modules.setdefault("rfc3987_syntax", None)  # `import rfc3987_syntax` now raises ImportError

from nbgrader.apps.nbgraderapp import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
