#!/usr/bin/env bash
# The main job: regenerate the release, run the solution notebooks as demo submissions, autograde,
# write feedback and grades.csv, print a score table. Sets up what it needs first.
# Usage: bash tools/demo.sh [--mode fast|full]      (fast by default)
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/course_env.sh
exec .venv/bin/python -m grading demo "$@"
