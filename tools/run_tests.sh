#!/usr/bin/env bash
# The test command: sets up what the tests need (Debian's bubblewrap for the sandbox, chromium for
# the browser tests, PostgreSQL for the gradebook on a cluster, npm for the hub's proxy, installed
# here when it can be; the environment in .venv), then runs pytest (extra arguments go to it).
#
# Without arguments, the whole suite in three runs of pytest: the quick tests first (a simple
# mistake fails in the first minute), then the tests marked `waits` (the browser round on a hub,
# which waits on its browser and hub for about half its time) beside the other slow ones, which
# fill the cores while it waits. Its output follows theirs.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/system_packages.sh
system_packages "the tests" python3.11-venv:/usr/lib/python3.11/ensurepip/__init__.py bubblewrap:bwrap chromium:chromium "postgresql:/usr/lib/postgresql/*/bin/initdb" npm:npm
source tools/course_env.sh
pytest=(.venv/bin/python -m pytest)
if [ $# -gt 0 ]; then
  exec "${pytest[@]}" "$@"
fi
start=$SECONDS
"${pytest[@]}" -m "not slow"
waiting_log=$(mktemp)
trap 'rm -f "$waiting_log"' EXIT
"${pytest[@]}" -m "slow and waits" > "$waiting_log" 2>&1 &
waiting=$!
status=0
"${pytest[@]}" -m "slow and not waits" || status=$?
wait "$waiting" || status=$?
echo "----- the tests that wait (pytest -m 'slow and waits'), run beside the others -----"
cat "$waiting_log"
echo "the whole suite: $((SECONDS - start)) s, exit status $status"
exit "$status"
