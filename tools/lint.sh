#!/usr/bin/env bash
# ruff, at the version pinned in requirements.txt, on the whole project with pyproject.toml's
# settings (notebooks included); .ci/run runs it before the tests. Extra arguments go to ruff.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/system_packages.sh
system_packages "the environment" python3.11-venv:/usr/lib/python3.11/ensurepip/__init__.py
source tools/course_env.sh
exec .venv/bin/ruff check "$@" .
