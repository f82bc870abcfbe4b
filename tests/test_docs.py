"""The documentation site (docs/, built by MkDocs): its configuration table says exactly what the
settings read, and the built site asks nothing of a third party."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = (ROOT / "config" / "settings.py", ROOT / "sandbox" / "settings.py")
CONFIGURATION = ROOT / "docs" / "operator" / "configuration.md"
ROW = re.compile(r"^\| `([A-Z][A-Z0-9_]*)` \|", re.MULTILINE)


def _reads_environment(call: ast.Call) -> bool:
    """`env_str(...)` and the other `env_*` helpers, `os.environ.get(...)`, `os.getenv(...)`."""
    func = call.func
    if isinstance(func, ast.Name):
        return func.id.startswith("env_")
    if isinstance(func, ast.Attribute):
        owner = ast.unparse(func.value)
        return (owner, func.attr) in {("os.environ", "get"), ("os", "getenv")}
    return False


def _helper_names(tree: ast.Module) -> set[str]:
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("env_")
    }


def environment_reads(path: Path) -> set[str]:
    """Every variable a settings module reads. Inside the `env_*` helpers the name is a
    parameter; anywhere else a read whose name is not a literal fails, as would an
    `os.environ[...]` subscript: the table could not follow it."""
    tree = ast.parse(path.read_text(), filename=str(path))
    helpers = _helper_names(tree)
    inside_helpers = {
        id(node)
        for helper in tree.body
        if isinstance(helper, ast.FunctionDef) and helper.name in helpers
        for node in ast.walk(helper)
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in inside_helpers:
            continue
        if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            raise AssertionError(f"{path.name}:{node.lineno}: read the environment via env_*")
        if not (isinstance(node, ast.Call) and _reads_environment(node)):
            continue
        first = node.args[0] if node.args else None
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            raise AssertionError(
                f"{path.name}:{node.lineno}: an environment read whose name is not a literal"
            )
        names.add(first.value)
    return names


def test_the_parser_sees_every_kind_of_read(tmp_path: Path) -> None:
    module = tmp_path / "settings.py"
    module.write_text(
        "import os\n"
        "def env_str(name, default=''):\n    return os.environ.get(name, default)\n"
        "A = env_str('A_VAR')\n"
        "B = f\"http://{env_str('B_VAR', 'x')}\"\n"
        "C = os.getenv('C_VAR')\n"
        "D = env_str('D_VAR') if A else env_int('E_VAR', 1)\n"
    )
    assert environment_reads(module) == {"A_VAR", "B_VAR", "C_VAR", "D_VAR", "E_VAR"}


def test_configuration_table_equals_what_the_settings_read() -> None:
    read = set().union(*(environment_reads(path) for path in SETTINGS))
    assert len(read) > 100, "the settings' environment reads were not found"
    rows = ROW.findall(CONFIGURATION.read_text())
    assert len(rows) == len(set(rows)), "a variable has two rows in the configuration table"
    undocumented = sorted(read - set(rows))
    unread = sorted(set(rows) - read)
    assert not undocumented, f"add rows to docs/operator/configuration.md: {undocumented}"
    assert not unread, f"no settings module reads these rows of the table: {unread}"


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


def test_the_built_site_requests_nothing_from_third_parties(tmp_path: Path) -> None:
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
    styles = "".join(path.read_text() for path in site.rglob("*.css"))
    assert "fonts.googleapis.com" not in styles
    assert "@import url(http" not in styles
