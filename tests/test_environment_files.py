"""environment.yml and requirements.txt pin the same packages, and this environment has them."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^\s*-?\s*([A-Za-z0-9_.\-\[\]]+)\s*==\s*([^\s#]+)")


def requirements_pins(path: Path = REPO / "requirements.txt") -> dict[str, str]:
    """The ``name==version`` pins of a pip requirements file (every line must be one)."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            match = PIN.match(line)
            assert match, f"{path.relative_to(REPO)} line {line!r} is not pinned with =="
            pins[match.group(1).lower()] = match.group(2)
    return pins


def conda_pip_lines() -> list[str]:
    """The lines of environment.yml's ``pip:`` list (a plain reader: no YAML library needed)."""
    lines = (REPO / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    indent = len(lines[start + 1]) - len(lines[start + 1].lstrip())
    block = []
    for line in lines[start + 1:]:
        if line.strip() and len(line) - len(line.lstrip()) < indent:
            break
        if line.strip():
            block.append(line)
    return block


def test_both_routes_pin_the_same_packages_and_versions():
    conda = {}
    for line in conda_pip_lines():
        match = PIN.match(line)
        assert match, f"environment.yml line {line.strip()!r} is not pinned with =="
        conda[match.group(1).lower()] = match.group(2)
    pip = requirements_pins()
    only_pip = {k: v for k, v in pip.items() if k not in conda}
    only_conda = {k: v for k, v in conda.items() if k not in pip}
    differ = {k: (pip[k], conda[k]) for k in pip.keys() & conda.keys() if pip[k] != conda[k]}
    assert not (only_pip or only_conda or differ), (
        f"only in requirements.txt: {only_pip}; only in environment.yml: {only_conda}; "
        f"different versions (pip, conda): {differ}"
    )


def test_every_conda_package_says_who_needs_it():
    silent = [line.strip() for line in conda_pip_lines() if "#" not in line]
    assert not silent, f"environment.yml packages without a comment: {silent}"


def test_the_required_stack_is_pinned():
    pins = requirements_pins()
    assert pins["tensorflow"].startswith("2.21.") and pins["keras"].startswith("3.")
    assert pins["nbgrader"] == "0.9.6" and pins["jupyterlab"].startswith("4.")
    for name in ("numpy", "matplotlib", "nbformat", "nbclient", "pytest"):
        assert name in pins


def test_conda_python_is_the_tested_one():
    assert re.search(r"^\s*-\s*python=3\.11\b", (REPO / "environment.yml").read_text(), re.M)


@pytest.mark.parametrize("name,version", sorted(requirements_pins().items()))
def test_this_environment_has_the_pinned_version(name, version):
    """The tests run in the environment the README sets up, not whatever happens to be around."""
    assert metadata.version(name.split("[")[0]) == version  # psycopg[binary] is installed as psycopg
