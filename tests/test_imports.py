"""The imports of the project's own modules point one way only.

Read with Python's ``ast``, not by importing, so every import counts: those at module level and
those inside functions (which run later, but make the same loop). The layers, from the top:
commands, then grading a class, then one course folder, the sandbox and the protocols; the checker
uses only the protocols and the course package; the course package imports nothing of the
grader.
"""

from __future__ import annotations

import ast
from pathlib import Path

from grading import course as c

PACKAGES = {"grading": c.REPO / "grading", "cifar10_course": c.REPO / "source" / "cifar10" / "cifar10_course"}


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project's modules that ``name`` imports, anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            # `from package import module` imports the module; `from module import name`, the module
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def test_no_import_cycle():
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import(tmp_path):
    folder = tmp_path / "pkg"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "a.py").write_text("from . import b\n")
    (folder / "b.py").write_text("def later():\n    from .a import something\n")
    (folder / "c.py").write_text("from pkg.b import later\n")
    known = {"pkg": folder / "__init__.py", **{f"pkg.{m}": folder / f"{m}.py" for m in "abc"}}
    found = {name: imports(name, path, known) for name, path in known.items()}
    assert found["pkg.a"] == {"pkg.b"} and found["pkg.b"] == {"pkg.a"} and found["pkg.c"] == {"pkg.b"}
    assert cycles(found) == [["pkg.a", "pkg.b"]]


def test_the_course_package_imports_nothing_of_the_grader():
    for name, targets in graph().items():
        if name.startswith("cifar10_course"):
            assert not [t for t in targets if t.startswith("grading")], name


def test_the_checker_uses_only_the_protocols_and_the_course_package():
    allowed = ("grading.checker", "grading.protocol", "cifar10_course", "grading.compat")
    for name, targets in graph().items():
        if name.startswith("grading.checker"):
            assert [t for t in targets if not t.startswith(allowed) and t != "grading"] == [], name


def test_the_graders_processes_start_without_matplotlib():
    """The grading process and the checker import the course package for its data and checks, not
    its plots: Matplotlib (about 0.4 s of every process's start) is imported by the first plot."""
    import subprocess
    import sys

    from conftest import subprocess_env

    code = ("import sys, grading.run_nbgrader, grading.execute, grading.verdicts, grading.sandbox, grading.checker.__main__, "
            "grading.checker.part6_bias; "
            "print(sorted(name for name in sys.modules if name.split('.')[0] == 'matplotlib'))")
    found = subprocess.run([sys.executable, "-c", code], cwd=c.REPO, capture_output=True, text=True, timeout=120,
                           env=subprocess_env())
    assert found.returncode == 0, found.stderr[-2000:]
    assert found.stdout.strip() == "[]", found.stdout
