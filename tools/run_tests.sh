#!/usr/bin/env bash
# The test command: sets up the environment if needed, then runs pytest (extra arguments go to it).
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/course_env.sh
exec .venv/bin/python -m pytest "$@"
