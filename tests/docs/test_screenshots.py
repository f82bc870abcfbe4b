"""The docs' screenshots (docs/img/screens/) are each taken by a browser test, so none goes
stale unnoticed: a picture the docs show that no test takes, a taken one the docs do not show,
or one missing from the folder fails here, naming it."""

from __future__ import annotations

import re

from tests.fixtures.screenshots import NAME, ROOT, SCREENS

DOCS = ROOT / "docs"
TESTS = ROOT / "tests"
# A Markdown image whose file is in img/screens/: its name.
SHOWN = re.compile(r"!\[[^\]]*\]\([^)\s]*img/screens/([^)\s/]+)\.png\)")
TAKEN = re.compile(r"docs_screenshot\(\s*\w+,\s*\"([^\"]+)\"")


def shown() -> dict[str, list[str]]:
    """Each screenshot the docs show: the pages showing it."""
    pages: dict[str, list[str]] = {}
    for page in sorted(DOCS.rglob("*.md")):
        for name in SHOWN.findall(page.read_text()):
            pages.setdefault(name, []).append(str(page.relative_to(ROOT)))
    return pages


def taken() -> dict[str, list[str]]:
    """Each screenshot a test takes: the test modules taking it."""
    modules: dict[str, list[str]] = {}
    for module in sorted(TESTS.rglob("test_*.py")):
        for name in TAKEN.findall(module.read_text()):
            modules.setdefault(name, []).append(str(module.relative_to(ROOT)))
    return modules


def test_every_screenshot_the_docs_show_is_taken_by_a_test() -> None:
    by_tests = taken()
    untaken = {name: pages for name, pages in shown().items() if name not in by_tests}
    assert untaken == {}, f"shown in the docs but taken by no test: {untaken}"


def test_every_screenshot_a_test_takes_is_shown_and_committed() -> None:
    in_docs = shown()
    assert set(taken()) <= set(in_docs), f"taken but shown nowhere: {set(taken()) - set(in_docs)}"
    committed = {path.stem for path in SCREENS.glob("*.png")}
    assert set(in_docs) <= committed, f"not in docs/img/screens/: {set(in_docs) - committed}"
    assert committed <= set(in_docs), f"in docs/img/screens/ but unused: {committed - set(in_docs)}"


def test_a_screenshot_is_found_by_its_call_and_its_reference() -> None:
    """The two patterns above read what the helper and the docs write (else both sets could
    be empty and the tests above pass for nothing)."""
    assert TAKEN.findall('docs_screenshot(page, "search-results")') == ["search-results"]
    assert SHOWN.findall("![Results](../img/screens/search-results.png)") == ["search-results"]
    assert {"search-results", "user-page", "bulk-run-preview", "export-builder"} <= set(taken())
    assert all(NAME.fullmatch(name) for name in taken())
