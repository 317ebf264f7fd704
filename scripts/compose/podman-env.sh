# Sourced by test.sh: the podman set-up this kind of machine needs (see docs/docker.md).
#   compose_install       Debian packages: podman, runc, debootstrap, netavark (which needs iptables), docker-compose v1
#   compose_write_conf    our own containers.conf (runc, ulimits, cgroupfs, file events) via CONTAINERS_CONF
#   compose_start_service podman's Docker-compatible API on $STATE/podman.sock, and the healthcheck loop
#   compose_stop_service  stops both (only the processes started here, by pid)
compose_install() {
  local want=() p
  for p in podman runc debootstrap netavark aardvark-dns iptables docker-compose; do
    command -v "$p" >/dev/null || [ -x "/usr/lib/podman/$p" ] || want+=("$p")
  done
  [ ${#want[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || { echo "error: root is needed to install ${want[*]} (rootful podman)" >&2; exit 2; }
  echo "[compose] installing ${want[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
}

compose_write_conf() {
  mkdir -p "$STATE"
  cat > "$STATE/containers.conf" <<CONF
# written by scripts/compose/podman-env.sh: crun fails on hybrid cgroups, podman's default ulimits are refused
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
[network]
network_backend = "netavark"
CONF
  export CONTAINERS_CONF="$STATE/containers.conf"
}

# podman runs healthchecks from systemd timers, absent here: run every container's check every 2 s ourselves
compose_health_loop() {
  while :; do
    for c in $(podman ps -q --filter "label=com.docker.compose.project=$1" 2>/dev/null); do
      podman healthcheck run "$c" >/dev/null 2>&1 || true
    done
    sleep 2
  done
}

compose_start_service() {
  rm -f "$STATE/podman.sock"
  podman system service --time=0 "unix://$STATE/podman.sock" >"$STATE/podman-service.log" 2>&1 &
  echo $! > "$STATE/service.pid"
  compose_health_loop "$1" >/dev/null 2>&1 &
  echo $! > "$STATE/health.pid"
  export DOCKER_HOST="unix://$STATE/podman.sock"
  for _ in $(seq 50); do [ -S "$STATE/podman.sock" ] && return 0; sleep 0.2; done
  echo "error: podman system service did not start (see $STATE/podman-service.log)" >&2; return 1
}

compose_stop_service() {
  local f
  for f in health service; do
    if [ -f "$STATE/$f.pid" ]; then kill "$(cat "$STATE/$f.pid")" 2>/dev/null || true; rm -f "$STATE/$f.pid"; fi
  done
}
