#!/usr/bin/env bash
# The test command: sets up what the tests need (Debian's bubblewrap for the sandbox, chromium for
# the browser tests, PostgreSQL for the gradebook on a cluster, npm for the hub's proxy, installed
# here when it can be; the environment in .venv), then runs pytest (extra arguments go to it).
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/system_packages.sh
system_packages "the tests" python3.11-venv:/usr/lib/python3.11/ensurepip/__init__.py bubblewrap:bwrap chromium:chromium "postgresql:/usr/lib/postgresql/*/bin/initdb" npm:npm
source tools/course_env.sh
exec .venv/bin/python -m pytest "$@"
