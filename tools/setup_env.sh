#!/usr/bin/env bash
# Create the course environment in .venv, or bring it up to date; does nothing when it already is.
# Usage: bash tools/setup_env.sh        (PYTHON=python3.12 to build it with another interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
exec 9< tools/setup_env.sh && flock 9  # one setup at a time: a second waits for the first to finish

venv=.venv
# Debian's interpreter where there is one: a venv's python is a link to its base interpreter, and
# one under /root (pyenv's) is unusable by any other user, such as an instructor's account
# running the grader (tests/test_ordinary_user.py).
if [ -n "${PYTHON:-}" ]; then python=$PYTHON
elif [ -x /usr/bin/python3.11 ]; then python=/usr/bin/python3.11
else python=python3
fi
interpreter=$("$python" -c 'import sys; print(sys.executable, sys.version.split()[0])')
# Rebuild when the interpreter changes; reinstall only when the pins or the package definition change.
wanted=$( { echo "$interpreter"; cat requirements.txt pyproject.toml; } | sha256sum | cut -d' ' -f1)
stamp=$venv/.installed-from

install() {  # install the pinned packages into the venv $1
  "$1/bin/python" -m pip install --quiet --upgrade pip setuptools
  "$1/bin/python" -m pip install --quiet -r requirements.txt
  # The helper package, editable: tests and tools import the one copy in source/cifar10/.
  "$1/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e .
}

built_on=$(sed -n 's/^executable = //p' "$venv/pyvenv.cfg" 2>/dev/null || true)
if [ -x "$venv/bin/python" ] && [ "$built_on" != "$("$python" -c 'import sys; print(sys.executable)')" ] \
    && [ "$(readlink -f "$built_on")" != "$(readlink -f "$(command -v "$python")")" ]; then
  # Another interpreter: build the new environment beside the old one and swap them at the end,
  # so that whoever is using the old one keeps a complete environment until then.
  echo "setup: rebuilding $venv with $interpreter (it was built on $built_on; a few minutes)"
  rm -rf "$venv.new"
  "$python" -m venv "$venv.new"
  install "$venv.new"
  echo "$wanted" > "$venv.new/.installed-from"
  # Scripts name their interpreter by path: point them at the final place before the swap.
  grep -rlI --null "$PWD/$venv.new" "$venv.new/bin" "$venv.new/pyvenv.cfg" | xargs -0 -r sed -i "s|$PWD/$venv.new|$PWD/$venv|g"
  rm -rf "$venv.old" && mv "$venv" "$venv.old" && mv "$venv.new" "$venv" && rm -rf "$venv.old"
elif [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating $venv with $interpreter"
  "$python" -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "setup: installing the pinned packages into $venv (a few minutes the first time)"
  install "$venv"
  echo "$wanted" > "$stamp"
fi
