#!/usr/bin/env bash
# The main job: regenerate the release, run the solution notebooks as demo submissions, autograde
# (in the sandbox: bubblewrap, installed here when it can be), write feedback and grades.csv, print
# a score table. Sets up what it needs first.
# Usage: bash tools/demo.sh [--mode fast|full]      (fast by default)
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/system_packages.sh
system_packages "the environment and grading in the sandbox" python3.11-venv:/usr/lib/python3.11/ensurepip/__init__.py bubblewrap:bwrap
source tools/course_env.sh
exec .venv/bin/python -m grading demo "$@"
