#!/bin/bash
# A one-node CNI configuration in place of kindnetd: pods get addresses from this node's
# podCIDR (listed from the API server with the pod's service account: kind's kindnet role may
# list and watch nodes, not get one) on point-to-point links,
# and their traffic to outside the pod network is masqueraded. Enough for one node; kindnetd
# also routes between nodes and enforces NetworkPolicy, which this does not.
set -euo pipefail

readonly CONF=/etc/cni/net.d/10-kindnet.conflist
readonly SA=/var/run/secrets/kubernetes.io/serviceaccount

node_cidr() {
    curl --silent --show-error --fail --cacert "$SA/ca.crt" \
        -H "Authorization: Bearer $(cat "$SA/token")" \
        "https://${KUBERNETES_SERVICE_HOST}:${KUBERNETES_SERVICE_PORT}/api/v1/nodes?fieldSelector=metadata.name=$(hostname)" |
        jq -r '.items[0].spec.podCIDR // empty'
}

cidr=""
until cidr="$(node_cidr)" && [[ -n "$cidr" ]]; do
    echo "cni-standin: waiting for this node's podCIDR"
    sleep 2
done

cat >"$CONF.tmp" <<CONFLIST
{
  "cniVersion": "0.4.0",
  "name": "kindnet",
  "plugins": [
    {
      "type": "ptp",
      "ipMasq": true,
      "mtu": 1500,
      "ipam": {
        "type": "host-local",
        "dataDir": "/run/cni-ipam-state",
        "routes": [{"dst": "0.0.0.0/0"}],
        "ranges": [[{"subnet": "$cidr"}]]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
CONFLIST
mv "$CONF.tmp" "$CONF"
echo "cni-standin: pods on this node get addresses from $cidr"
exec sleep infinity
