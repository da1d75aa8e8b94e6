# Sourced by the course's commands: set up .venv if needed, and find CIFAR-10 offline.
# When CIFAR10_PATH is unset and the project's shared data folder sits beside the checkout (as on
# the project's machines, which have no internet), build the official archive from it once.
bash tools/setup_env.sh
if [ -z "${CIFAR10_PATH:-}" ] && [ -d ../shared/data ]; then
  CIFAR10_PATH=$(bash tools/prepare_offline_data.sh)
  export CIFAR10_PATH
fi
