"""Every private or undocumented name of a third-party library that the project relies on, in one
place, each with why no public one serves.

Code elsewhere reaches such a name only through this module. ``tests/test_compat.py`` imports
each library at its pinned version and fails, naming the entry, when one is missing: an upgrade
that renames a name fails that one-second test instead of quietly turning a defence off.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Private:
    """``module``'s attribute ``path`` (dotted: ``Class.method``), and why the project needs it."""

    module: str
    path: str
    why: str

    def resolve(self) -> object:
        value = importlib.import_module(self.module)
        for part in self.path.split("."):
            value = getattr(value, part)
        return value

    def present(self) -> bool:
        """Whether the name is still there: read from the module's source where it is defined there
        (no import: Keras would take seconds), else imported (a name from a compiled module)."""
        if _defined_in_source(self.module, self.path.split(".")):
            return True
        try:
            self.resolve()
        except (ImportError, AttributeError):
            return False
        return True


def _source(module: str) -> str:
    """The module's source, found without importing it or its packages (importing Keras takes
    seconds); empty for a compiled module."""
    top, *rest = module.split(".")
    spec = importlib.util.find_spec(top)
    if spec is None:
        return ""
    if not rest:
        candidates = [Path(spec.origin or "")]
    else:
        base = Path(list(spec.submodule_search_locations or [""])[0]).joinpath(*rest)
        candidates = [base.with_suffix(".py"), base / "__init__.py"]
    for candidate in candidates:
        if candidate.suffix == ".py" and candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    return ""


def _defined_in_source(module: str, path: list[str]) -> bool:
    """Whether the module's own source defines ``path`` (a name, or Class.name) by a def, a class,
    an assignment or an import."""
    body = ast.parse(_source(module)).body
    for depth, name in enumerate(path):
        found = None
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
                found = node
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(target, ast.Name) and target.id == name for target in targets):
                    found = node
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                if any((alias.asname or alias.name.split(".")[0]) == name for alias in node.names):
                    found = node
        if found is None:
            return False
        body = getattr(found, "body", []) if depth < len(path) - 1 else []
    return True


NAMES: list[Private] = []


def private(module: str, path: str, why: str) -> Private:
    """Register a private name (at import of this module, so the test sees every one)."""
    entry = Private(module, path, why)
    NAMES.append(entry)
    return entry


@dataclass(frozen=True)
class Text:
    """A literal in ``module``'s source that the project relies on (a log message it reads, a
    file name it derives), and why."""

    module: str
    text: str
    why: str

    def present(self) -> bool:
        return self.text in _source(self.module)


TEXTS: list[Text] = []


def text(module: str, literal: str, why: str) -> str:
    """Register a literal of a library's source; returns it."""
    TEXTS.append(Text(module, literal, why))
    return literal


# -- nbgrader --------------------------------------------------------------------------------------

# grading.run_nbgrader reads nbgrader's log records as data (the record's format string and its
# arguments, never the printed text): nbgrader has no other way to say which notebook it was
# converting when it failed, or which locked cells it restored.
CONVERTING_NOTEBOOK = text("nbgrader.converters.base", "Converting notebook %s",
                           "the notebook nbgrader converts, logged before each one")
CELL_CHANGED = text("nbgrader.preprocessors.overwritecells", "Attribute '%s' for cell %s has changed!",
                    "a locked cell nbgrader restores (its message starts so)")

# -- nbconvert -------------------------------------------------------------------------------------

# -- jupyter_client --------------------------------------------------------------------------------

# -- Keras and NumPy -------------------------------------------------------------------------------

# A functional model's description (to_json) names the class's module, keras.src.models.functional:
# the checker accepts that module for Keras's own Functional class (grading.checker.safe_models).
FUNCTIONAL_MODULE = "keras.src.models.functional"
private(FUNCTIONAL_MODULE, "Functional", "the module a functional model's description names")
# Where keras.datasets.cifar10.load_data() keeps the archive it downloads (below
# $KERAS_HOME/datasets): get_file(fname="cifar-10-batches-py-target", extract=True) saves it as
# f"{fname}_archive". The sandbox puts the instructor's copy there (grading.sandbox), so that
# Keras's own loader works offline.
KERAS_CIFAR10_ARCHIVE = "cifar-10-batches-py-target_archive"
text("keras.src.datasets.cifar10", '"cifar-10-batches-py-target"', "the name Keras's CIFAR-10 loader gives get_file")
text("keras.src.utils.file_utils", 'f"{fname}_archive"', "the name get_file gives the archive it keeps")
# The CIFAR-10 batches are pickles of NumPy arrays, which name the function that rebuilds an array;
# cifar10_course.data's restricted unpickler allows it (NumPy 2 moved it from numpy.core).
private("numpy._core.multiarray", "_reconstruct", "the array rebuilder a CIFAR-10 pickle names (cifar10_course.data)")
