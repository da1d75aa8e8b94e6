#!/usr/bin/env bash
# The course on a JupyterHub on this machine, as root: sets it up (a venv every user can run, the
# proxy, system users, the exchange, the instructor's copy of the course), then runs the hub in the
# foreground (Ctrl-C stops it). Options go to `python -m grading.hub` (--help lists them), e.g.
#   sudo bash tools/hub.sh --mode fast --password try-it-out     # a trial on http://127.0.0.1:8000
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/course_env.sh
exec .venv/bin/python -m grading.hub "$@"
