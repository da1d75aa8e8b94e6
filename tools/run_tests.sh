#!/usr/bin/env bash
# The test command: sets up the environment if needed, then runs pytest (extra arguments go to it).
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/setup_env.sh
if [ -z "${CIFAR10_PATH:-}" ] && [ -d ../shared/data ]; then
  CIFAR10_PATH=$(bash tools/prepare_offline_data.sh)
  export CIFAR10_PATH
fi
exec .venv/bin/python -m pytest "$@"
