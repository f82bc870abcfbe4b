"""The documentation site (docs/, built by MkDocs): its configuration table says exactly what the
settings read, and the built site asks nothing of a third party."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = (ROOT / "config" / "settings.py", ROOT / "sandbox" / "settings.py")
CONFIGURATION = ROOT / "docs" / "operator" / "configuration.md"
ROW = re.compile(r"^\| `([A-Z][A-Z0-9_<>]*)` \|", re.MULTILINE)
PLACEHOLDER = "<*>"


def _is_os_read(call: ast.Call) -> bool:
    """`os.environ.get(name)` and `os.getenv(name)`."""
    func = call.func
    return isinstance(func, ast.Attribute) and (ast.unparse(func.value), func.attr) in {
        ("os.environ", "get"),
        ("os", "getenv"),
    }


def _name_argument(node: ast.AST) -> ast.expr | None:
    if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
        return node.slice
    if isinstance(node, ast.Call) and node.args:
        return node.args[0]
    return None


def _readers(trees: list[ast.Module]) -> set[str]:
    """Functions that read the variable their first parameter names (`env_str`, `env_list`,
    `env_role_map`, ...): they pass it on, directly or through another such function."""
    functions = [node for tree in trees for node in tree.body if isinstance(node, ast.FunctionDef)]
    readers: set[str] = set()
    while True:
        found = {
            function.name
            for function in functions
            if function.args.args
            and any(
                _reads(node, readers)
                and isinstance(_name_argument(node), ast.Name)
                and getattr(_name_argument(node), "id", None) == function.args.args[0].arg
                for node in ast.walk(function)
            )
        }
        if found <= readers:
            return readers
        readers |= found


def _reads(node: ast.AST, readers: set[str]) -> bool:
    if isinstance(node, ast.Subscript):
        return ast.unparse(node.value) == "os.environ"
    if not isinstance(node, ast.Call):
        return False
    return _is_os_read(node) or (isinstance(node.func, ast.Name) and node.func.id in readers)


def _constants(tree: ast.Module) -> dict[str, list[str]]:
    """Module-level tuples and lists of string literals, by name."""
    found: dict[str, list[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Tuple | ast.List):
            items = node.value.elts
            if items and all(
                isinstance(i, ast.Constant) and isinstance(i.value, str) for i in items
            ):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        found[target.id] = [str(i.value) for i in items]  # type: ignore[attr-defined]
    return found


def _names(
    argument: ast.expr, node: ast.AST, parents: dict[ast.AST, ast.AST], constants: dict
) -> list[str]:
    """What a read's name argument can be: a literal, an f-string (each hole a placeholder),
    a parameter passed through (its callers are read instead), or a loop over a module-level
    tuple of literals. Anything else fails: the table could not follow it."""
    if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
        return [argument.value]
    if isinstance(argument, ast.JoinedStr):
        return [
            "".join(
                str(part.value) if isinstance(part, ast.Constant) else PLACEHOLDER
                for part in argument.values
            )
        ]
    if isinstance(argument, ast.Name):
        scope = parents.get(node)
        while scope is not None:
            if isinstance(scope, ast.FunctionDef) and argument.id in {
                a.arg for a in scope.args.args
            }:
                return []
            loops: list[ast.comprehension | ast.For] = []
            if isinstance(scope, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
                loops += scope.generators
            if isinstance(scope, ast.For):
                loops.append(scope)
            for loop in loops:
                target, source = loop.target, loop.iter
                if (
                    isinstance(target, ast.Name)
                    and target.id == argument.id
                    and isinstance(source, ast.Name)
                    and source.id in constants
                ):
                    return list(constants[source.id])
            scope = parents.get(scope)
    raise AssertionError(
        f"line {getattr(node, 'lineno', '?')}: an environment read of {ast.unparse(argument)!r}"
        " whose name the configuration table cannot follow"
    )


def environment_reads(*paths: Path) -> set[str]:
    """Every variable the settings modules read (templated names with `<*>` holes)."""
    trees = [ast.parse(path.read_text(), filename=str(path)) for path in paths]
    readers = _readers(trees)
    names: set[str] = set()
    for tree in trees:
        parents = {
            child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)
        }
        constants = _constants(tree)
        for node in ast.walk(tree):
            argument = _name_argument(node) if _reads(node, readers) else None
            if argument is not None:
                names.update(_names(argument, node, parents, constants))
    return names


def test_the_parser_sees_every_kind_of_read(tmp_path: Path) -> None:
    module = tmp_path / "settings.py"
    module.write_text(
        "import os\n"
        "NAMES = ('F_VAR', 'G_VAR')\n"
        "def env_str(name, default=''):\n    return os.environ.get(name, default)\n"
        "def env_twice(name):\n    return env_str(name) + env_str(name)\n"
        "def _field(slug, field):\n    return os.environ.get(f'T_{slug.upper()}_{field}')\n"
        "A = env_str('A_VAR')\n"
        "B = f\"http://{env_str('B_VAR', 'x')}\"\n"
        "C = os.getenv('C_VAR')\n"
        "D = env_twice('D_VAR') if A else os.environ['E_VAR']\n"
        "F = [n for n in NAMES if os.environ.get(n)]\n"
        "T = _field('x', 'DOMAIN')\n"
    )
    assert environment_reads(module) == {
        "A_VAR",
        "B_VAR",
        "C_VAR",
        "D_VAR",
        "E_VAR",
        "F_VAR",
        "G_VAR",
        "T_<*>_<*>",
    }
    module.write_text("import os\nNAME = 'X'\nX = os.environ.get(NAME)\n")
    with pytest.raises(AssertionError, match="cannot follow"):
        environment_reads(module)


def test_configuration_table_equals_what_the_settings_read() -> None:
    read = environment_reads(*SETTINGS)
    assert len(read) > 100, "the settings' environment reads were not found"
    rows = [
        re.sub(r"<[A-Z_]+>", PLACEHOLDER, row) for row in ROW.findall(CONFIGURATION.read_text())
    ]
    assert len(rows) == len(set(rows)), "a variable has two rows in the configuration table"
    undocumented = sorted(read - set(rows))
    unread = sorted(set(rows) - read)
    assert not undocumented, f"add rows to docs/operator/configuration.md: {undocumented}"
    assert not unread, f"no settings module reads these rows of the table: {unread}"


def test_the_readme_links_to_pages_that_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\((?!https?:)([^)#]+)(?:#[^)]*)?\)", readme)
    assert len(targets) > 10
    assert [target for target in targets if not (ROOT / target).is_file()] == []
    assert len(readme.encode()) <= 10_000
    assert max(len(line) for line in readme.splitlines()) <= 100


# A list item's marker that a reflow pulled up to the end of the item before it: Markdown then
# shows it as text inside that item ("... users. - **From a list**: ...").
SWALLOWED_ITEM = re.compile(r"[.)]\S* - \*\*[A-Z]")


def test_no_list_item_is_run_into_the_one_before() -> None:
    found = [
        f"{page.relative_to(ROOT)}:{n}: {line.strip()[:60]}"
        for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
        for n, line in enumerate(page.read_text().splitlines(), 1)
        if SWALLOWED_ITEM.search(line)
    ]
    assert found == [], "start these list items on a line of their own:\n" + "\n".join(found)


class _Requests(HTMLParser):
    """The URLs a page makes the browser fetch by itself: scripts, styles, images, fonts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in {"script", "img", "iframe", "source"} and values.get("src"):
            self.urls.append(values["src"] or "")
        if tag == "link" and values.get("rel") != "canonical" and values.get("href"):
            self.urls.append(values["href"] or "")


def test_the_built_site_requests_nothing_from_third_parties_and_renders_its_code(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(site)],
        cwd=ROOT,
        check=True,
    )
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 20
    third_party = {}
    for page in pages:
        parser = _Requests()
        parser.feed(page.read_text())
        remote = [url for url in parser.urls if re.match(r"(https?:)?//", url)]
        if remote:
            third_party[str(page.relative_to(site))] = remote
    assert not third_party
    stray = {}
    for page in pages:
        text = re.sub(r"<pre.*?</pre>|<code>.*?</code>", "", page.read_text(), flags=re.DOTALL)
        if "`" in re.sub(r"<[^>]+>", "", text):
            stray[str(page.relative_to(site))] = True
    assert not stray, f"a code span lost its closing backtick on: {sorted(stray)}"
    styles = "".join(path.read_text() for path in site.rglob("*.css"))
    assert "fonts.googleapis.com" not in styles
    assert "@import url(http" not in styles


def test_make_test_fails_on_a_broken_docs_link(tmp_path: Path) -> None:
    """`make docs-build` (run by `make test`) on a copy of the docs with one broken link: MkDocs
    counts its warnings only when they are logged, so the build must not be made quiet."""
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    with (tmp_path / "docs" / "staff" / "search.md").open("a") as page:
        page.write("\nSee [the missing page](no-such-page.md).\n")
    build = subprocess.run(
        ["make", "--no-print-directory", "docs-build", f"MKDOCS_CONFIG={tmp_path / 'mkdocs.yml'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert build.returncode != 0
    assert "'no-such-page.md'" in build.stdout + build.stderr
