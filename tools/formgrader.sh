#!/usr/bin/env bash
# The instructor's view of the course at the repository root: nbgrader's formgrader in JupyterLab,
# from the course's environment whether or not it is activated. Its Autograde button grades in the
# sandbox (grading/formgrader.py). After `bash tools/demo.sh` it shows the demo students, their
# scores and the written answers that wait for hand-grading.
# Usage: bash tools/formgrader.sh [jupyter lab options, e.g. --port 8890 --no-browser]
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/course_env.sh
if [ -f gradebook.db ]; then
  echo "formgrader: the gradebook is ./gradebook.db"
else
  echo "formgrader: there is no ./gradebook.db yet; nbgrader creates an empty one there when the formgrader" \
       "opens (bash tools/demo.sh leaves the demo round's)"
fi
# nbgrader runs `alembic` (from the venv) when it creates a gradebook: the venv's bin goes first.
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/jupyter lab --ServerApp.root_dir="$PWD" --ServerApp.default_url=/formgrader \
  --ServerApp.jpserver_extensions="{'grading.formgrader': True}" "$@"
