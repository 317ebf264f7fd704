#!/usr/bin/env bash
# Builds the local stand-ins for the upstream base images (no image registry here): a Debian bookworm rootfs
# from debootstrap, imported into podman, and FROM it one image per upstream base the project names
# (PYTHON_IMAGE, MAVEN_IMAGE, KAFKA_IMAGE, REDIS_IMAGE). The machine's CA bundle goes into the Python and
# Maven images so builds that fetch over HTTPS (pip, Maven Central) trust what the machine trusts.
# Each image is built only when it is missing or its recipe changed (label sparkify.recipe = hash).
# Usage: base-images.sh   (prints the four image names as NAME=value lines on stdout, logs on stderr)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CA=${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
JAVA_CA=${HOST_JAVA_CACERTS:-/etc/ssl/certs/java/cacerts}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
log() { printf '[base-images] %s\n' "$*" >&2; }

BASE=localhost/sparkify-base:bookworm
recipe_of() { cat "$@" | sha256sum | cut -c1-16; }
has_recipe() { [ "$(podman image inspect --format '{{index .Labels "sparkify.recipe"}}' "$1" 2>/dev/null)" = "$2" ]; }

base_recipe=$(printf 'bookworm minbase %s\n' "$MIRROR" | cat - "$CA" | sha256sum | cut -c1-16)
if has_recipe "$BASE" "$base_recipe"; then
  log "$BASE is up to date"
else
  log "building $BASE with debootstrap (about a minute)"
  rootfs=$(mktemp -d /var/tmp/sparkify-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' EXIT
  debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >/dev/null
  cat > "$rootfs/etc/apt/sources.list" <<SRC
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb ${MIRROR%/debian}/debian-security bookworm-security main
SRC
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' > "$rootfs/etc/apt/apt.conf.d/90no-recommends"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | podman import -q --change 'CMD ["/bin/bash"]' \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change "LABEL sparkify.recipe=$base_recipe" - "$BASE" >/dev/null
  rm -rf "$rootfs"; trap - EXIT
fi

# build NAME DIR: one local image from scripts/compose/images/DIR (context = that folder plus the CA files)
build() {
  local name=$1 dir=$HERE/images/$2 ctx recipe
  recipe=$( (echo "$base_recipe"; cat "$dir"/*; cat "$CA") | sha256sum | cut -c1-16)
  if has_recipe "$name" "$recipe"; then log "$name is up to date"; return; fi
  log "building $name"
  ctx=$(mktemp -d /var/tmp/sparkify-ctx.XXXXXX)
  cp -r "$dir"/. "$ctx"/
  cp "$CA" "$ctx/host-ca.crt"
  if [ -f "$JAVA_CA" ]; then cp "$JAVA_CA" "$ctx/host-java-cacerts"; else : > "$ctx/host-java-cacerts"; fi
  if [ "$2" = kafka ]; then mkdir -p "$ctx/libs" && cp "$ROOT"/.jars/broker/*.jar "$ctx/libs/"; fi
  podman build -q --build-arg "BASE=$BASE" --label "sparkify.recipe=$recipe" -t "$name" "$ctx" >/dev/null \
    || { rm -rf "$ctx"; log "building $name failed"; exit 1; }
  rm -rf "$ctx"
}

[ -d "$ROOT/.jars/broker" ] || { echo "error: .jars/broker is missing: run make setup first" >&2; exit 2; }
build localhost/sparkify-python:3.11 python
build localhost/sparkify-maven:3-jdk17 maven
build localhost/sparkify-kafka:4.1.1 kafka
build localhost/sparkify-redis:7 redis
echo "PYTHON_IMAGE=localhost/sparkify-python:3.11"
echo "MAVEN_IMAGE=localhost/sparkify-maven:3-jdk17"
echo "KAFKA_IMAGE=localhost/sparkify-kafka:4.1.1"
echo "REDIS_IMAGE=localhost/sparkify-redis:7"
