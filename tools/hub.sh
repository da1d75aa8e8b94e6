#!/usr/bin/env bash
# The course on a JupyterHub on this machine, as root: sets it up (a venv every user can run, the
# proxy, system users, the exchange, the instructor's copy of the course) and runs the hub in the
# background. Options go to `python hub/course_hub.py` (--help lists them), e.g.
#   sudo bash tools/hub.sh --mode fast --password try-it-out     # a trial on http://127.0.0.1:8000
#   sudo bash tools/hub.sh --add-student demo_cy="Cy Young"     # a new student, no restart
#   sudo bash tools/hub.sh --restart                             # users' servers go on running
#   sudo bash tools/hub.sh --stop                                # everything it started
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/system_packages.sh
system_packages "the hub" npm:npm python3.11-venv:/usr/lib/python3.11/ensurepip/__init__.py
source tools/course_env.sh
exec .venv/bin/python hub/course_hub.py "$@"
