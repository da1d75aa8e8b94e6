#!/usr/bin/env bash
# The main job: regenerate the release, run the solution notebooks as demo submissions, autograde,
# write feedback and grades.csv, print a score table. Sets up what it needs first.
# Usage: bash tools/demo.sh [--mode fast|full]      (fast by default)
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/setup_env.sh
if [ -z "${CIFAR10_PATH:-}" ] && [ -d ../shared/data ]; then
  CIFAR10_PATH=$(bash tools/prepare_offline_data.sh)
  export CIFAR10_PATH
fi
exec .venv/bin/python -m grading demo "$@"
