#!/usr/bin/env bash
# `make e2e`: the kind end-to-end suite (tests/e2e). It builds the image from this checkout,
# creates the kind cluster of tests/e2e/kind-config.yaml with cloud-provider-kind for Ingress,
# installs the chart, runs the tests through the Ingress and always deletes the cluster.
#
#   bash scripts/e2e.sh [pytest options]
#
# Without Docker, or without kind/helm/kubectl and Go to build them, it prints one line saying
# what is missing and exits 0. On failure the pod logs, events and operator log are printed and
# kept in .cache/e2e/diagnostics/.
#
# Environment:
#   BOTGATEWAY_E2E_PYTHON                   the interpreter with the test dependencies
#                                           (default .venv/bin/python, as `make e2e` makes it)
#   BOTGATEWAY_E2E_CLOUD_PROVIDER_KIND=external
#                                           you run cloud-provider-kind yourself (macOS: the
#                                           binary with sudo); otherwise the suite runs its
#                                           container image next to the cluster
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

status=0
reason="$("$PYTHON" -m tests.e2e.harness check)" || status=$?
if [[ $status -eq 3 ]]; then
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

BOTGATEWAY_E2E=1 "$PYTHON" -m pytest tests/e2e -m e2e -p no:cacheprovider -rs "$@"
