#!/usr/bin/env bash
# What the e2e tier needs from the machine, on this project's own machines and CI (never on a
# user's: scripts/e2e.sh runs this only under CI=true or BOTGATEWAY_E2E_SETUP_DOCKER=1).
#
#   - installs Debian's docker.io when dockerd is absent, and debootstrap (the images' root
#     filesystems) when it is absent;
#   - starts dockerd when no daemon answers (log: /var/log/botgateway-dockerd.log);
#   - where the capability bounding set lacks CAP_SYS_RESOURCE (these VMs), `--privileged`
#     containers cannot start (kind's nodes are privileged), so it registers
#     runc-without-sys-resource as the daemon's default runtime. The kind config then gets
#     `restrict_oom_score_adj` for the node's containerd (tests/e2e/harness.py asks
#     `needs_capability_workaround`, the same probe).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly HERE
readonly RUNTIME_NAME=botgateway-nosysresource
readonly RUNTIME_PATH=/usr/local/libexec/botgateway/runc-without-sys-resource
readonly DAEMON_JSON=/etc/docker/daemon.json
readonly LOG=/var/log/botgateway-dockerd.log

say() { printf 'e2e setup: %s\n' "$*"; }
die() { printf 'e2e setup: error: %s\n' "$*" >&2; exit 1; }

# Bit 24 of CapBnd is CAP_SYS_RESOURCE.
lacks_sys_resource() {
    local bounding
    bounding="$(awk '/^CapBnd:/ {print $2}' /proc/self/status)"
    (((0x$bounding >> 24 & 1) == 0))
}

daemon_answers() { docker info --format '{{.ServerVersion}}' >/dev/null 2>&1; }

workaround_missing() {
    lacks_sys_resource && ! grep -q "$RUNTIME_NAME" "$DAEMON_JSON" 2>/dev/null
}

if daemon_answers && ! workaround_missing && command -v debootstrap >/dev/null 2>&1; then
    say "ready: Docker $(docker info --format '{{.ServerVersion}} ({{.Driver}}, runtime {{.DefaultRuntime}})')"
    exit 0
fi
[[ $(id -u) -eq 0 ]] || die "run as root (it installs packages and starts dockerd)"

packages=()
command -v dockerd >/dev/null 2>&1 || packages+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || packages+=(debootstrap)
if [[ ${#packages[@]} -gt 0 ]]; then
    say "installing ${packages[*]} (Debian)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
fi

restart=0
if lacks_sys_resource; then
    install -D -m 0755 "$HERE/runc-without-sys-resource" "$RUNTIME_PATH"
    if ! grep -q "$RUNTIME_NAME" "$DAEMON_JSON" 2>/dev/null; then
        say "CAP_SYS_RESOURCE is not in the bounding set: default runtime $RUNTIME_NAME"
        mkdir -p "$(dirname "$DAEMON_JSON")"
        python3 - "$DAEMON_JSON" "$RUNTIME_NAME" "$RUNTIME_PATH" <<'PY'
import json, os, sys
path, name, runtime = sys.argv[1:]
config = json.load(open(path)) if os.path.exists(path) else {}
config.setdefault("runtimes", {})[name] = {"path": runtime}
config["default-runtime"] = name
json.dump(config, open(path, "w"), indent=2)
PY
        restart=1
    fi
fi

if daemon_answers && [[ $restart -eq 1 ]]; then
    say "restarting dockerd to take the runtime"
    pkill -x dockerd || true
    for _ in $(seq 60); do pgrep -x dockerd >/dev/null || break; sleep 0.5; done
fi
if ! daemon_answers; then
    say "starting dockerd (log $LOG)"
    nohup dockerd >"$LOG" 2>&1 &
    for _ in $(seq 120); do daemon_answers && break; sleep 0.5; done
    daemon_answers || die "dockerd did not answer in 60s; see $LOG"
fi
say "ready: Docker $(docker info --format '{{.ServerVersion}} ({{.Driver}}, runtime {{.DefaultRuntime}})')"
