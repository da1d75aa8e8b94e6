"""Every private name and source literal of a library that the project relies on
(grading/compat.py) is still there in the pinned versions: an upgrade that renames one fails
here, in a second, instead of quietly turning a defence off."""

from __future__ import annotations

import ast

import pytest

from grading import compat
from grading import course as c


@pytest.mark.parametrize("entry", compat.NAMES, ids=lambda entry: f"{entry.module}.{entry.path}")
def test_a_private_name_the_project_uses_is_still_there(entry):
    assert entry.present(), f"{entry.module}.{entry.path} is gone ({entry.why}): see grading/compat.py"


@pytest.mark.parametrize("entry", compat.TEXTS, ids=lambda entry: f"{entry.module}:{entry.text}")
def test_a_literal_the_project_relies_on_is_still_in_the_librarys_source(entry):
    assert entry.present(), f"{entry.text!r} is no longer in {entry.module} ({entry.why}): see grading/compat.py"


def test_the_checks_find_a_missing_name():
    assert not compat.Private("json", "nothing_here", "a test").present()
    assert not compat.Private("json.decoder", "JSONDecoder.nothing_here", "a test").present()
    assert compat.Private("json.decoder", "JSONDecoder.decode", "a test").present()
    assert not compat.Text("json", "a literal json never holds", "a test").present()


LIBRARIES = ("nbgrader", "nbconvert", "nbclient", "jupyter_client", "jupyter_server", "ipykernel", "keras", "numpy",
             "tornado", "traitlets", "tensorflow", "zmq", "h5py", "nbformat")


def test_no_private_name_of_a_library_outside_the_compatibility_module():
    """An attribute access ``x._name`` in the grader where ``x`` is a module of one of the
    libraries, or an import of a private name or module from one: only grading/compat.py may."""
    found = []
    for path in [*(c.REPO / "grading").rglob("*.py"), *(c.REPO / "source/cifar10/cifar10_course").glob("*.py")]:
        if path.name == "compat.py" and path.parent.name == "grading":
            continue
        tree = ast.parse(path.read_text())
        libraries = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in LIBRARIES:
                        libraries[alias.asname or alias.name.split(".")[0]] = alias.name
                        if any(part.startswith("_") for part in alias.name.split(".")):
                            found.append(f"{path.name}:{node.lineno} import {alias.name}")
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in LIBRARIES:
                parts = [*node.module.split("."), *(alias.name for alias in node.names)]
                if any(part.startswith("_") and not part.startswith("__") for part in parts):
                    found.append(f"{path.name}:{node.lineno} from {node.module} import ...")
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name) and node.value.id in libraries):
                found.append(f"{path.name}:{node.lineno} {node.value.id}.{node.attr}")
    assert found == []
