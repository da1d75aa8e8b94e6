"""Write requirements.txt's versions into the files that repeat them.

requirements.txt is the course's one list of pins: the pip route installs it (tools/setup_env.sh),
the conda route too (environment.yml's pip section is ``-r requirements.txt``), and pyproject.toml
reads it as the package's dependencies. A few files must stand alone and so repeat some of its
versions: the students' requirements and README (source/cifar10/, copied into release/cifar10/,
which is all students receive) and the hub's requirements. Each of them names the packages it
wants, with its own comments; this script only sets the version of every ``name==version`` (or
``name[extra]==version``) it finds there, comments included, for a package that requirements.txt
pins. Standard library only: any Python 3.11 runs it.

Usage: python3 tools/pins.py           rewrite the files that differ, naming them
       python3 tools/pins.py --check   name them, rewrite nothing; exit 1 if any differs
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements.txt"
FOLLOWERS = (
    "source/cifar10/requirements.txt",
    "release/cifar10/requirements.txt",
    "source/cifar10/README.md",
    "release/cifar10/README.md",
    "hub/requirements.txt",
)
# name[extras]==version, not part of a longer name
PIN = re.compile(r"(?<![\w.-])([A-Za-z0-9][A-Za-z0-9._-]*)(\[[A-Za-z0-9,._ -]*\])?==([A-Za-z0-9](?:[A-Za-z0-9.+!_-]*[A-Za-z0-9])?)")


def normalize(name: str) -> str:
    """A package's name as pip compares it (PEP 503): ``Jupyter_Client`` is ``jupyter-client``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_pins(path: Path = LOCK) -> dict[str, str]:
    """The lock's versions by normalized name; every line that is not a comment must be one pin."""
    pins = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = PIN.fullmatch(line)
        if not match:
            raise SystemExit(f"{path.name} line {number}: {line!r} is not name==version")
        pins[normalize(match.group(1))] = match.group(3)
    return pins


def pinned_in(text: str) -> list[tuple[str, str]]:
    """Every ``(normalized name, version)`` stated in ``text``, comments included."""
    return [(normalize(m.group(1)), m.group(3)) for m in PIN.finditer(text)]


def synced(text: str, pins: dict[str, str]) -> str:
    """``text`` with the lock's version in every pin of a package the lock pins."""
    def version(match: re.Match) -> str:
        wanted = pins.get(normalize(match.group(1)))
        return match.group(0) if wanted is None else f"{match.group(1)}{match.group(2) or ''}=={wanted}"

    return PIN.sub(version, text)


def stale(pins: dict[str, str] | None = None) -> dict[str, str]:
    """The followers whose pins differ from the lock: {path relative to the repository: new text}."""
    pins = lock_pins() if pins is None else pins
    changed = {}
    for name in FOLLOWERS:
        text = (REPO / name).read_text()
        if synced(text, pins) != text:
            changed[name] = synced(text, pins)
    return changed


def main(argv: list[str]) -> int:
    check = argv == ["--check"]
    if argv and not check:
        print(__doc__.split("Usage: ", 1)[1], file=sys.stderr)
        return 2
    changed = stale()
    for name, text in changed.items():
        if check:
            print(f"{name}: its pins differ from requirements.txt (python3 tools/pins.py)")
        else:
            (REPO / name).write_text(text)
            print(f"{name}: pins written from requirements.txt")
    return 1 if check and changed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
