#!/usr/bin/env bash
# Build the official-layout CIFAR-10 archive from ../shared/data once, and print its path.
# Usage: export CIFAR10_PATH=$(bash tools/prepare_offline_data.sh)
# For machines without internet that have the project's shared/ folder beside the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

shared=${CIFAR10_SHARED_DATA:-../shared/data}
target=${CIFAR10_OFFLINE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cifar10-offline}
archive=$target/cifar-10-python.tar.gz

if [ ! -f "$archive" ] || [ ! -d "$target/cifar-10-batches-py" ]; then
  [ -f "$shared/build_cifar10_archive.py" ] || { echo "no $shared/build_cifar10_archive.py" >&2; exit 1; }
  bash tools/setup_env.sh >&2
  echo "data: building $archive from $shared (about 30 s)" >&2
  mkdir -p "$(dirname "$target")"
  staging=$(mktemp -d "$(dirname "$target")/.cifar10-offline.XXXXXX")
  .venv/bin/python "$shared/build_cifar10_archive.py" --out "$staging" >&2
  rm -rf "$target" && mv "$staging" "$target"  # Renamed whole: never half an archive in place.
fi
echo "$archive"
