"""The docs hold: the README is a front door, every relative link resolves, the configuration table is the code's."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from contracts.settings import documented_env_vars
from devstack.__main__ import settings_table

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").rglob("*.md"))]
CODE_DIRS = ("contracts", "producer", "training", "streaming", "dashboard", "devstack", "benchmarks", "scripts")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def test_the_readme_is_a_front_door():
    assert (ROOT / "README.md").stat().st_size <= 15_000


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(m.group(1)) for m in re.finditer(r"^#+\s+(.+)$", path.read_text(), re.M)}


def broken_links(doc: Path) -> list[str]:
    out = []
    for target in LINK.findall(doc.read_text()):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        path = (doc.parent / file_part).resolve() if file_part else doc
        if not path.exists():
            out.append(f"{doc.name}: {target} (no such file)")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            out.append(f"{doc.name}: {target} (no such heading)")
    return out


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(doc):
    assert broken_links(doc) == []


def test_a_broken_link_is_found(tmp_path):
    doc = tmp_path / "a.md"
    (tmp_path / "b.md").write_text("# Real heading\n")
    doc.write_text("[ok](b.md) [ok](b.md#real-heading) [web](https://x.org) [bad](c.md) [bad](b.md#nope)\n")
    assert len(broken_links(doc)) == 2


def test_the_configuration_table_is_generated_from_the_settings():
    text = (ROOT / "docs" / "configuration.md").read_text()
    table = text.split("<!-- settings-table:start -->\n", 1)[1].split("\n<!-- settings-table:end -->", 1)[0]
    assert table == settings_table(), "regenerate it: python -m devstack settings-table"


def env_reads(path: Path) -> set[str]:
    """Names of environment variables a module reads: os.environ[...], os.environ.get/setdefault(...), os.getenv(...)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        key = None
        if isinstance(node, ast.Subscript) and _is_environ(node.value):
            key = node.slice
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            f = node.func
            if (f.attr in ("get", "setdefault", "pop") and _is_environ(f.value)) or f.attr == "getenv":
                key = node.args[0]
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            found.add(key.value)
    return found


def _is_environ(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ" or isinstance(node, ast.Name) and node.id == "environ"


def test_every_variable_the_code_reads_is_documented():
    read = set()
    for folder in CODE_DIRS:
        for path in (ROOT / folder).rglob("*.py"):
            read |= env_reads(path)
    documented = set(documented_env_vars())
    table = (ROOT / "docs" / "configuration.md").read_text()
    assert read, "found no environment reads at all?"
    assert sorted(read - documented) == []
    assert sorted(v for v in documented if f"`{v}`" not in table) == []


def test_the_scan_finds_every_form_of_read(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import os\nfrom os import environ\nos.environ.get('A', '1')\nos.environ['B']\n"
                      "os.getenv('C')\nenviron.setdefault('D', 'x')\nd = {}\nd.get('E')\n")
    assert env_reads(module) == {"A", "B", "C", "D"}
