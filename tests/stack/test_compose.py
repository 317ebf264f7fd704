"""The compose file is valid, every service runs a command that exists, every setting it uses is documented."""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from contracts.settings import documented_env_vars

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"


def _services() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]


@pytest.mark.skipif(not shutil.which("docker-compose"), reason="docker-compose not installed (make setup installs it)")
@pytest.mark.parametrize("profile", [[], ["--profile", "cluster"]])
def test_compose_file_validates(profile):
    result = subprocess.run(["docker-compose", "-f", str(COMPOSE), *profile, "config", "-q"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def _python_module_calls(command) -> list[list[str]]:
    """Every `python -m ...` invocation in a service command (list form or inside `sh -c`)."""
    text = " ".join(command) if isinstance(command, list) else command
    calls = []
    for part in re.split(r";|&&|\|\||\bthen\b|\belse\b|\bfi\b", text):
        words = shlex.split(part.replace("$$", "$"), posix=True) if "python" in part else []
        if "python" in words and "-m" in words:
            i = words.index("-m")
            calls.append(words[i + 1:])
    return calls


def test_every_service_command_exists():
    checked = 0
    for name, svc in _services().items():
        for call in _python_module_calls(svc.get("command") or []):
            module, rest = call[0], call[1:]
            sub = [rest[0]] if rest and not rest[0].startswith("-") and module == "producer" else []
            help_out = subprocess.run([sys.executable, "-m", module, *sub, "--help"], capture_output=True,
                                      text=True, cwd=ROOT, timeout=120)
            assert help_out.returncode == 0, f"{name}: python -m {module} {' '.join(sub)} --help failed: {help_out.stderr}"
            for opt in (w for w in rest if w.startswith("--")):
                assert opt in help_out.stdout, f"{name}: {module} {' '.join(sub)} has no option {opt}"
            checked += 1
    assert checked >= 5


def test_every_referenced_setting_is_documented():
    text = COMPOSE.read_text()
    used = set(re.findall(r"\$\{?\$?(SPARKIFY_[A-Z0-9_]+)", text)) | set(re.findall(r"^\s+(SPARKIFY_[A-Z0-9_]+):", text, re.M))
    known = set(documented_env_vars())
    readme = (ROOT / "docs" / "configuration.md").read_text()
    assert used, "the compose file uses no settings?"
    assert not used - known, f"not settings: {sorted(used - known)}"
    assert not {v for v in used if v not in readme}, f"not in docs/configuration.md: {sorted(v for v in used if v not in readme)}"
