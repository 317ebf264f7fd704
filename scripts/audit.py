"""`make audit`: pip-audit of the venv's installed pins, saying so in one line when nothing could be looked up.

pip-audit's PyPI service reads ``https://pypi.org/pypi/<name>/<version>/json`` for every pin and skips a pin whose
page is missing as "Dependency not found on PyPI"; its OSV service calls api.osv.dev. Behind a package mirror that
serves neither, pip-audit skips every pin and still prints "No known vulnerabilities found" with exit 0. This
wrapper reports that case as what it is: nothing was audited.

Known findings that are accepted go in ``scripts/audit-ignore.txt``, one ``ID  reason`` per line; an entry without a
reason is refused.

Exit status: 0 when no known vulnerability was found in the audited pins, and also when the vulnerability service
could not be reached (one line starting ``audit: UNREACHABLE``), so that an audit step never fails for the network;
1 when a pin has a vulnerability not in the ignore file; 2 when the ignore file is malformed or pip-audit failed
for a reason other than the network.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

IGNORE_FILE = Path(__file__).with_name("audit-ignore.txt")
NOT_FOUND = "Dependency not found on PyPI"
#: pip-audit's own failures that mean "the service did not answer" (requests' exception names in its traceback)
NETWORK_ERROR = re.compile(r"ConnectionError|NameResolutionError|Max retries exceeded|Timeout|Temporary failure in "
                           r"name resolution|Name or service not known|Connection refused|SSLError")
TIMEOUT_S = 600


def read_ignores(text: str) -> dict[str, str]:
    """``ID  reason`` per line (lines starting with ``#`` and blank lines skipped) -> {ID: reason}; ValueError without a reason."""
    ignores = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        vuln_id, _, reason = line.partition(" ")
        if not reason.strip():
            raise ValueError(f"{IGNORE_FILE.name}:{lineno}: {vuln_id} has no reason")
        ignores[vuln_id] = reason.strip()
    return ignores


def verdict(report: dict) -> tuple[int, list[str]]:
    """(exit status, lines to print) for pip-audit's JSON report (``-f json``)."""
    deps = report.get("dependencies", [])
    audited = [d for d in deps if "skip_reason" not in d]
    not_found = [d for d in deps if d.get("skip_reason", "").startswith(NOT_FOUND)]
    if not audited:
        return 0, [f"audit: UNREACHABLE: the vulnerability service answered for none of the {len(not_found)} installed "
                   f"pins (pip-audit: '{NOT_FOUND}' for each); nothing was audited"]
    lines = []
    for d in audited:
        for v in d.get("vulns", []):
            fix = ", ".join(v.get("fix_versions", [])) or "no fixed version"
            aliases = ", ".join(v.get("aliases", []))
            lines.append(f"{d['name']}=={d['version']}: {v['id']}{f' ({aliases})' if aliases else ''}; fixed in {fix}")
    skipped = f"; not audited ({NOT_FOUND.lower()}): {', '.join(d['name'] for d in not_found)}" if not_found else ""
    if lines:
        return 1, lines + [f"audit: {len(lines)} known vulnerabilities in {len({ln.split(':')[0] for ln in lines})} "
                           f"of {len(audited)} audited pins: upgrade, or add each ID with its reason to "
                           f"scripts/{IGNORE_FILE.name}{skipped}"]
    return 0, [f"audit: no known vulnerabilities in {len(audited)} audited pins{skipped}"]


def main() -> int:
    try:
        ignores = read_ignores(IGNORE_FILE.read_text()) if IGNORE_FILE.exists() else {}
    except ValueError as e:
        print(f"audit: error: {e}", file=sys.stderr)
        return 2
    cmd = [sys.executable, "-m", "pip_audit", "--skip-editable", "--progress-spinner", "off", "--format", "json",
           "--vulnerability-service", "pypi"]
    for vuln_id in ignores:
        cmd += ["--ignore-vuln", vuln_id]
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        print(f"audit: UNREACHABLE: pip-audit got no answer from the vulnerability service in {TIMEOUT_S} s; "
              "nothing was audited")
        return 0
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        last = (run.stderr.strip().splitlines() or ["no output"])[-1][:300]
        if NETWORK_ERROR.search(run.stderr):
            print(f"audit: UNREACHABLE: pip-audit could not reach the vulnerability service ({last}); "
                  "nothing was audited")
            return 0
        print(f"audit: error: pip-audit exited {run.returncode}: {last}", file=sys.stderr)
        return 2
    status, lines = verdict(report)
    print("\n".join(lines))
    if ignores:
        print(f"audit: ignored as accepted ({IGNORE_FILE.name}): {', '.join(ignores)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
