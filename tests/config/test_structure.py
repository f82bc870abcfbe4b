"""The product and the sandbox as two parts of the repository's import graph: no import cycle
among the product's modules, counting imports made inside functions and under TYPE_CHECKING (a
function-level import must not hide a cycle), and one import between the two parts, the
sandbox's settings reading the product's (docs/architecture/index.md, "Layering")."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.import_graph import (
    PRODUCT,
    SANDBOX,
    cycle,
    graph,
    imports,
    in_packages,
    modules,
    reached,
)

# What the sandbox imports of the product: its settings start from the product's.
SANDBOX_IMPORTS_OF_THE_PRODUCT = {"config.settings"}


def test_the_product_has_no_import_cycle_even_through_function_level_imports() -> None:
    assert cycle(graph(PRODUCT)) == []


def test_imports_inside_functions_and_for_type_checking_count(tmp_path: Path) -> None:
    module = tmp_path / "tasks.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "from . import lease\n"
        "if TYPE_CHECKING:\n"
        "    from .models import Export\n"
        "def run() -> None:\n"
        "    from exports.scheduling import run_due\n"
        "    import staff.audit\n"
    )
    known = {"exports", "exports.lease", "exports.models", "exports.scheduling", "staff.audit"}
    assert imports(module, known, "exports.tasks") == known - {"exports"}


def test_no_product_module_imports_the_sandbox() -> None:
    both = graph((*PRODUCT, *SANDBOX))
    assert {
        (name, other)
        for name, others in both.items()
        if in_packages(name, PRODUCT)
        for other in others
        if in_packages(other, SANDBOX)
    } == set()


def test_the_sandbox_imports_only_the_product_settings() -> None:
    product = set(modules(PRODUCT))
    direct = {other for path in modules(SANDBOX).values() for other in imports(path, product)}
    assert direct == SANDBOX_IMPORTS_OF_THE_PRODUCT
    # And what those import in turn stays in config (config/__init__ loads the Celery app).
    whole = graph(PRODUCT, inits=True)
    assert {name.partition(".")[0] for name in reached(whole, direct)} == {"config"}
