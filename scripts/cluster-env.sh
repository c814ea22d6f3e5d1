# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables are used by the scripts that source this file
# Shared by scripts/cluster.sh, scripts/image.sh and scripts/cluster-smoke.sh (sourced, not run):
# where the local single-node cluster keeps its files, and the addresses it uses.
#
# Environment (read once, when a cluster comes up; `down` reads what `up` recorded):
#   DR_CLUSTER_DIR   everything of the cluster (default /var/lib/dr-cluster):
#                      pki/        CA, certificates, keys and kubeconfigs: generated once, kept
#                      images/     docker-archive tars of the local images: kept, imported at `up`
#                      state/      etcd data, containerd root and state, kubelet root, logs, PIDs:
#                                  created by `up`, removed by `down`
#                      kubeconfig  the admin kubeconfig (kept with pki/)
#                      bin/        kubectl and helm: links into the tool cache
#                      last-logs/  the daemons' logs of the last cluster, saved by `down`
#   DR_NODE_IP       node address, a /32 added to `lo` (default 10.99.0.1)
#   DR_POD_CIDR      the bridge's /24 (default 10.99.1.0/24; the bridge takes .1)
#   DR_SERVICE_CIDR  the Service /24 (default 10.99.2.0/24; .1 is the `kubernetes` Service)
#   DR_EVICTION_DISK free disk below which the kubelet evicts pods (default 100Mi)
#   DR_TOOLS_CACHE   the tool cache of tests/envtest (binaries, the pause program)

dr_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DR_CLUSTER_DIR=${DR_CLUSTER_DIR:-/var/lib/dr-cluster}
dr_pki=$DR_CLUSTER_DIR/pki
dr_images=$DR_CLUSTER_DIR/images
dr_state=$DR_CLUSTER_DIR/state
dr_kubeconfig=$DR_CLUSTER_DIR/kubeconfig
dr_containerd_sock=$dr_state/containerd/containerd.sock
dr_tools_cache=${DR_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/digital-recovery/tools}

# Names the cluster creates on the host; teardown removes exactly these.
dr_node_name=dr-node
dr_bridge=drbr0
dr_cni_network=dr-cluster
dr_cgroup=dr-cluster

DR_NODE_IP=${DR_NODE_IP:-10.99.0.1}
DR_POD_CIDR=${DR_POD_CIDR:-10.99.1.0/24}
DR_EVICTION_DISK=${DR_EVICTION_DISK:-100Mi}
DR_SERVICE_CIDR=${DR_SERVICE_CIDR:-10.99.2.0/24}

# dr_first_ip 10.99.2.0/24 -> 10.99.2.1 (the /24s are given as network addresses).
dr_first_ip() {
  local net=${1%/*}
  echo "${net%.*}.$((${net##*.} + 1))"
}

dr_log() { echo "cluster: $*" >&2; }
dr_die() {
  echo "cluster: $*" >&2
  exit 1
}

# True when this cluster's containerd answers on its socket.
dr_containerd_up() {
  [[ -S $dr_containerd_sock ]] && ctr --address "$dr_containerd_sock" version >/dev/null 2>&1
}
