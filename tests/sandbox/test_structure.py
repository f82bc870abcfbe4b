"""The sandbox as a component of its own: no import cycle among its modules, counting imports
made inside functions too (a function-level import must not hide a cycle)."""

from __future__ import annotations

from tests.fixtures.import_graph import SANDBOX, cycle, graph


def test_the_sandbox_has_no_import_cycle_even_through_function_level_imports() -> None:
    assert cycle(graph(SANDBOX)) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
