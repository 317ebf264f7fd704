"""The folder layout is the architecture: no service imports another, and the dashboard runs without Spark."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("producer", "training", "streaming", "dashboard")
#: What each top-level package may import from the project (besides itself).
ALLOWED = {service: {"contracts"} for service in SERVICES} | {"contracts": set()}


def imported_packages(path: Path) -> set[str]:
    """Top-level project packages a module imports, at module level or inside functions."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & (set(SERVICES) | {"contracts", "devstack", "benchmarks", "tests", "scripts"})


def violations(package: str) -> list[str]:
    out = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = imported_packages(path) - {package} - ALLOWED[package]
        out += [f"{path.relative_to(ROOT)} imports {b}" for b in sorted(bad)]
    return out


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_service_imports_only_itself_and_contracts(package):
    assert violations(package) == []


def test_the_rule_catches_a_cross_service_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import os\nfrom streaming.scoring import score_frame\n\ndef f():\n    import training.cli\n")
    assert imported_packages(module) == {"streaming", "training"}


def test_the_dashboard_imports_no_pyspark():
    modules = sorted(f"dashboard.{p.stem}" for p in (ROOT / "dashboard").glob("*.py") if p.stem != "__main__")
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules) +
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyspark', 'py4j')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"the dashboard loads Spark: {out.stdout.strip()[:300]}"
