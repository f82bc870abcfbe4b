"""The test suite as the next maintainer reads it: tests sit in the folder of the code they test,
shared helpers live in tests/fixtures (no test module imports another), and a test says what it
tests rather than which issue asked for it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
ISSUE = re.compile(r"\b[Ii]ssues? \d+")


def modules() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "node_modules" not in p.parts)


def test_no_test_module_sits_at_the_top_of_the_tests_folder() -> None:
    assert sorted(p.name for p in TESTS.glob("test_*.py")) == []


def test_no_test_module_imports_another() -> None:
    imports = []
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            imports += [
                f"{path.relative_to(TESTS)}: {name}"
                for name in names
                if name.rsplit(".", 1)[-1].startswith("test_") and name.startswith("tests")
            ]
    assert imports == []


def test_no_test_names_an_issue() -> None:
    cited = [
        f"{path.relative_to(TESTS)}:{number}"
        for path in modules()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if ISSUE.search(line)
    ]
    assert cited == []
