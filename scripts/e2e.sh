#!/usr/bin/env bash
# `make e2e`: the kind end-to-end suite (tests/e2e). It builds every image it needs with
# scripts/e2e-images.sh (cached per machine: the first run is long, later ones build only the
# project's image), creates the kind cluster, installs Traefik, PostgreSQL and the gateway (from
# deploy/ and from the chart), runs the scenarios through the Ingress and always deletes the
# cluster.
#
#   bash scripts/e2e.sh [pytest options]
#
# Without Docker, or without kind/helm/kubectl and Go to build them, it prints one line saying
# what is missing and exits 0, except under CI=true, where a missing prerequisite fails: there
# scripts/e2e/setup-machine.sh first installs and starts Docker. On failure the pod logs, events
# and operator log are printed and kept in .cache/e2e/diagnostics/.
#
# Environment:
#   BOTGATEWAY_E2E_PYTHON             the interpreter with the test dependencies
#                                     (default .venv/bin/python, as `make e2e` makes it)
#   BOTGATEWAY_E2E_SETUP_DOCKER=1     run scripts/e2e/setup-machine.sh (as CI does; root only)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
cd "$ROOT"
PYTHON="${BOTGATEWAY_E2E_PYTHON:-$ROOT/.venv/bin/python}"
readonly PYTHON

if [[ ! -x "$PYTHON" ]]; then
    echo "make e2e: $PYTHON not found (run \`make e2e\`, which creates it, or set BOTGATEWAY_E2E_PYTHON)" >&2
    exit 1
fi

if [[ "${CI:-}" == true || "${BOTGATEWAY_E2E_SETUP_DOCKER:-}" == 1 ]]; then
    bash "$ROOT/scripts/e2e/setup-machine.sh"
fi

status=0
reason="$("$PYTHON" -m tests.e2e.harness check)" || status=$?
if [[ $status -eq 3 && "${CI:-}" == true ]]; then
    echo "make e2e: cannot run under CI: $reason" >&2
    exit 1
elif [[ $status -eq 3 ]]; then
    echo "make e2e: skipped: $reason"
    exit 0
elif [[ $status -ne 0 ]]; then
    echo "make e2e: the prerequisite check failed (exit status $status): $reason" >&2
    exit "$status"
fi

# The suite deletes its cluster itself; this also covers pytest being killed.
cleanup() {
    "$PYTHON" -m tests.e2e.harness cleanup || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start=$SECONDS
bash "$ROOT/scripts/e2e-images.sh"
echo "make e2e: images ready in $((SECONDS - start))s"

BOTGATEWAY_E2E=1 "$PYTHON" -m pytest tests/e2e -m e2e -p no:cacheprovider -rs "$@"
