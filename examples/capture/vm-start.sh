#!/bin/sh
# vm-start.sh - the capture part of Istio's istio-start.sh, with skiff:
# source sidecar.env and cluster.env with auto-export, clean, then install
# the rules from the environment alone (no flags).
#
#   sudo ./vm-start.sh [cluster.env]          # apply
#   DRY_RUN=true ./vm-start.sh cluster.env    # print the rules instead
set -e
here=$(cd "$(dirname "$0")" && pwd)
SKIFF=${SKIFF:-skiff}
set -a
[ -f "${ISTIO_SIDECAR_CONFIG:-/var/lib/istio/envoy/sidecar.env}" ] &&
	. "${ISTIO_SIDECAR_CONFIG:-/var/lib/istio/envoy/sidecar.env}"
. "${1:-$here/cluster.env}"
set +a
if [ "${DRY_RUN:-false}" != true ]; then
	"$SKIFF" clean-iptables
fi
exec "$SKIFF" iptables
