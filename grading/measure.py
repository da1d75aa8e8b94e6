"""Run a command and report how it ended and the peak memory of its largest process.

    python -m grading.measure COMMAND [ARGS...]

The command's output passes through; then one JSON line follows on stdout:
``{"measure": {"returncode": N, "signal": S or null, "peak_rss_kb": K}}`` and this process exits
with the command's code. The peak is the largest resident set of any process of the command's tree
that was waited for (``getrusage(RUSAGE_CHILDREN)``): for ``nbgrader autograde`` that is the
student's kernel, as a rule. Each submission runs under its own measure, so peaks do not mix.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    returncode = subprocess.run(argv).returncode
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # kilobytes on Linux
    signal = -returncode if returncode < 0 else None
    print(json.dumps({"measure": {"returncode": returncode, "signal": signal, "peak_rss_kb": peak}}), flush=True)
    return returncode if returncode >= 0 else 128 + signal


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
