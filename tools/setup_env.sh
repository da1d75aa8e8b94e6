#!/usr/bin/env bash
# Create the course environment in .venv, or bring it up to date; does nothing when it already is.
# Usage: bash tools/setup_env.sh        (PYTHON=python3.12 to build it with another interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
python=${PYTHON:-python3}
# Reinstall only when the pins or the package definition change.
wanted=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
stamp=$venv/.installed-from

if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating $venv with $($python --version 2>&1)"
  "$python" -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "setup: installing the pinned packages into $venv (a few minutes the first time)"
  "$venv/bin/python" -m pip install --quiet --upgrade pip setuptools
  "$venv/bin/python" -m pip install --quiet -r requirements.txt
  # The helper package, editable: tests and tools import the one copy in source/cifar10/.
  "$venv/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e .
  echo "$wanted" > "$stamp"
fi
