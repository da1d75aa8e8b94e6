# Sourced by the course's commands: make sure Debian's packages that a command needs are installed.
# Usage: source tools/system_packages.sh; system_packages "what needs them" PACKAGE:COMMAND ...
#   (COMMAND is how to tell the package is there, e.g. bubblewrap:bwrap)
# As root, or with sudo that asks no password, it installs what is missing with apt-get and says so.
# Otherwise it prints one line naming what is missing and the command that installs it, and goes
# on: the main job then grades without the sandbox (saying why), and the tests that need a missing
# package skip with that reason (in CI, where CI=true, they fail instead).
system_packages() {
  local purpose=$1 spec missing=()
  shift
  for spec in "$@"; do
    command -v "${spec#*:}" > /dev/null 2>&1 || ls ${spec#*:} > /dev/null 2>&1 || missing+=("${spec%%:*}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo > /dev/null 2>&1 && sudo -n true 2> /dev/null; then sudo="sudo"; else sudo="none"; fi
  fi
  if [ "$sudo" = "none" ] || ! command -v apt-get > /dev/null 2>&1; then
    echo "setup: missing Debian packages for $purpose: ${missing[*]} (install them with: sudo apt-get install -y ${missing[*]})" >&2
    return 0
  fi
  echo "setup: installing Debian packages for $purpose: ${missing[*]} (a minute or two)" >&2
  if ! { $sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"; } > /dev/null 2>&1; then
    echo "setup: could not install ${missing[*]} (try: sudo apt-get install -y ${missing[*]})" >&2
  fi
}
