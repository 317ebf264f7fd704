#!/usr/bin/env bash
# make test-compose: the whole stack in containers, for real, on a machine without Docker (rootful podman +
# Debian's docker-compose v1 on podman's Docker-compatible socket). Default profile, then --profile cluster,
# then the 3-broker fault test (tests/stack/test_compose.py). Everything started here is stopped at the end,
# also on failure. COMPOSE_TEST_ARGS adds pytest arguments (e.g. -k default).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"
export STATE=${COMPOSE_TEST_STATE:-/tmp/sparkify-compose-test}
export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-sparkify-compose-test}
# shellcheck source=podman-env.sh
source "$HERE/podman-env.sh"
started=$(date +%s)
compose_install
compose_write_conf
t0=$(date +%s)
images=$(bash "$HERE/base-images.sh")
eval "$(sed 's/^/export /' <<<"$images")"
echo "[compose] base images ready in $(( $(date +%s) - t0 )) s" >&2

cleanup() {
  local rc=$?
  if [ -S "$STATE/podman.sock" ]; then
    # the 3-broker stack is the cluster profile plus the kafka3.yml override file (its brokers' volumes too)
    for f in "" "--profile cluster" "-f docker-compose.yml -f scripts/compose/kafka3.yml --profile cluster"; do
      # shellcheck disable=SC2086
      docker-compose $f down -v --remove-orphans >/dev/null 2>&1 || true
    done
  fi
  compose_stop_service
  echo "[compose] finished in $(( $(date +%s) - started )) s (exit $rc)" >&2
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
compose_start_service "$COMPOSE_PROJECT_NAME"

# shellcheck disable=SC2086
COMPOSE_LIVE_TEST=1 .venv/bin/python -m pytest tests/stack/test_compose.py -k live -p no:cacheprovider \
  --timeout=1800 -v -s ${COMPOSE_TEST_ARGS:-}
