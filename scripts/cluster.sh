#!/usr/bin/env bash
# A real single-node Kubernetes cluster on this machine, from the parts tests/envtest builds
# (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy) and the
# distribution's containerd, runc and CNI plugins (tests/envtest/node-deps.sh installs them).
#
#   cluster.sh up      start it (or find it running); the kubeconfig path is the last line of stdout
#   cluster.sh down    stop it and remove everything `up` created, also after a crash
#   cluster.sh status  what runs, and whether the node is Ready
#
# Needs root: it creates a cgroup, mounts (through the kubelet and containerd), a bridge, an address
# on `lo`, iptables rules (kube-proxy). All traffic stays on this machine: the API server binds
# the node address (a /32 on `lo`), pods sit on a private bridge with routes only to the Service
# range and the node address, with no masquerading and no outside DNS.
#
# Everything `up` starts runs in the cgroup /dr-cluster (freezer, or the v2 tree): daemons in
# /dr-cluster/daemons, the kubelet's pods in /dr-cluster/kubepods. `down` stops the recorded PIDs,
# then kills whatever is left in that cgroup (containerd shims, containers), unmounts everything
# under the state directory, deletes the bridge, the address, the KUBE-* iptables chains and the
# host paths `up` found missing and the kubelet or containerd then created, restores the sysctls
# the kubelet and the bridge plugin change, and removes the state directory. `up` runs `down`
# first when it finds the leftovers of a cluster that is not healthy (a killed run).
#
# Files and addresses: see scripts/cluster-env.sh. Ports (fixed, on 127.0.0.1 or the node
# address): etcd 2379/2380, kube-apiserver 6443, kubelet 10250 (+10248 healthz), kube-proxy
# 10249/10256, kube-controller-manager 10257, kube-scheduler 10259.
set -euo pipefail

# shellcheck source=cluster-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster-env.sh"

daemons=(containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
ports=(2379 2380 6443 10248 10249 10250 10256 10257 10259)
# Paths on the host outside the state directory that the kubelet, containerd or CNI create when
# missing. `up` records those that are missing; `down` removes them again (only those).
host_paths=(/run/containerd /var/lib/kubelet /var/log/containers /var/log/pods /var/lib/cni
  /etc/cni /opt/containerd /var/lib/containerd /run/netns /etc/kubernetes /run/runc /run/xtables.lock)
# Sysctls the kubelet (setupKernelTunables) and the bridge plugin (ip_forward) set; restored by `down`.
sysctls=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward
  net.ipv4.conf.all.route_localnet)

# ---------------------------------------------------------------------------------------------
# cgroups

# The cgroup hierarchies to create /dr-cluster in (the kubelet wants its cgroupRoot in each).
cgroup_roots() {
  if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
    echo /sys/fs/cgroup
  else
    # cgroup v1, and in hybrid mode also the v2 hierarchy (/sys/fs/cgroup/unified), where runc
    # and the kubelet make the same tree.
    awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/self/mounts
  fi
}

# The hierarchy used to find, freeze and kill every process of the cluster.
track_root() {
  if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
    echo /sys/fs/cgroup
  elif [[ -d /sys/fs/cgroup/freezer ]]; then
    echo /sys/fs/cgroup/freezer
  else
    echo /sys/fs/cgroup/pids
  fi
}

make_cgroups() {
  local root
  for root in $(cgroup_roots); do
    mkdir -p "$root/$dr_cgroup"
    # A new v1 cpuset is empty; neither the kubelet's pod cgroups nor runc can use it then.
    if [[ -f $root/cpuset.cpus && -f $root/$dr_cgroup/cpuset.cpus ]]; then
      [[ -n $(cat "$root/$dr_cgroup/cpuset.cpus") ]] || cat "$root/cpuset.cpus" >"$root/$dr_cgroup/cpuset.cpus"
      [[ -n $(cat "$root/$dr_cgroup/cpuset.mems") ]] || cat "$root/cpuset.mems" >"$root/$dr_cgroup/cpuset.mems"
    fi
  done
  if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
    # v2: the kubelet needs the controllers delegated below /dr-cluster.
    local c
    for c in $(</sys/fs/cgroup/cgroup.controllers); do
      echo "+$c" >"/sys/fs/cgroup/cgroup.subtree_control" 2>/dev/null || true
      echo "+$c" >"/sys/fs/cgroup/$dr_cgroup/cgroup.subtree_control" 2>/dev/null || true
    done
  fi
  mkdir -p "$(track_root)/$dr_cgroup/daemons"
}

# Every PID in the cluster's cgroup tree.
cluster_pids() {
  local base
  base=$(track_root)/$dr_cgroup
  [[ -d $base ]] || return 0
  find "$base" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -un
}

set_frozen() {
  local base
  base=$(track_root)/$dr_cgroup
  [[ -d $base ]] || return 0
  if [[ -f $base/freezer.state ]]; then
    echo "$1" >"$base/freezer.state" 2>/dev/null || true
  elif [[ -f $base/cgroup.freeze ]]; then
    [[ $1 == FROZEN ]] && echo 1 >"$base/cgroup.freeze" 2>/dev/null || echo 0 >"$base/cgroup.freeze" 2>/dev/null || true
  fi
}

remove_cgroups() {
  local root
  for root in $(cgroup_roots); do
    [[ -d $root/$dr_cgroup ]] || continue
    find "$root/$dr_cgroup" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}

# ---------------------------------------------------------------------------------------------
# processes

# start_daemon NAME CMD...: runs CMD in its own session, in the cluster's cgroup, logging to
# state/logs/NAME.log, and records its PID in state/pids/NAME.
start_daemon() {
  local name=$1
  shift
  local procs
  procs=$(track_root)/$dr_cgroup/daemons/cgroup.procs
  (
    echo "$BASHPID" >"$procs"
    exec 7>&- # the lock of this script (see the end); the daemons must not hold it
    # Not a process-group leader here, so setsid(1) execs in place: the PID stays $!.
    exec setsid "$@" </dev/null >>"$dr_state/logs/$name.log" 2>&1
  ) &
  local pid=$!
  echo "$pid" >"$dr_state/pids/$name"
  # The PID is ours once it is in the cgroup (daemon_alive checks that).
  for _ in $(seq 50); do
    grep -qx "$pid" "$procs" 2>/dev/null && return 0
    sleep 0.02
  done
}

# True when the PID recorded for NAME runs, and runs in our cgroup (not a recycled PID).
daemon_alive() {
  local pid
  pid=$(cat "$dr_state/pids/$1" 2>/dev/null) || return 1
  [[ -n $pid && -d /proc/$pid ]] && grep -q ":/$dr_cgroup/" "/proc/$pid/cgroup" 2>/dev/null
}

# wait_for WHAT DAEMON SECONDS CMD...: retries CMD until it succeeds; fails with the tail of the
# daemon's log when the daemon dies or time runs out.
wait_for() {
  local what=$1 daemon=$2 seconds=$3
  shift 3
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ! daemon_alive "$daemon"; then
      tail -n 30 "$dr_state/logs/$daemon.log" >&2 || true
      dr_die "$daemon exited while waiting for $what (log above: $dr_state/logs/$daemon.log; \`make cluster-down\` cleans up)"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 30 "$dr_state/logs/$daemon.log" >&2 || true
      dr_die "timed out after ${seconds}s waiting for $what (log above: $dr_state/logs/$daemon.log; \`make cluster-down\` cleans up)"
    fi
    sleep 0.2
  done
}

kubectl_() { "$dr_bin_cp/kubectl" --kubeconfig "$dr_kubeconfig" "$@"; }

# ---------------------------------------------------------------------------------------------
# certificates

# issue NAME SUBJECT server|client|both [SAN]: an X.509 v3 certificate signed by the cluster CA
# (rustls, kube-rs' TLS, rejects v1 certificates).
issue() {
  local name=$1 subject=$2 kind=$3 san=${4:-} dir=$dr_pki.new usage
  case "$kind" in
    server) usage=serverAuth ;;
    client) usage=clientAuth ;;
    both) usage=serverAuth,clientAuth ;;
  esac
  {
    echo "[v3]"
    echo "basicConstraints = critical, CA:FALSE"
    echo "keyUsage = critical, digitalSignature, keyEncipherment"
    echo "extendedKeyUsage = $usage"
    echo "subjectKeyIdentifier = hash"
    echo "authorityKeyIdentifier = keyid, issuer"
    [[ -n $san ]] && echo "subjectAltName = $san"
  } >"$dir/$name.ext"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$dir/$name.key" -subj "$subject" \
    -out "$dir/$name.csr" 2>/dev/null
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
    -days 3650 -sha256 -extfile "$dir/$name.ext" -extensions v3 -out "$dir/$name.crt" 2>/dev/null
  rm -f "$dir/$name.csr" "$dir/$name.ext"
}

# kubeconfig NAME CERT: a kubeconfig for the client certificate CERT (data embedded).
kubeconfig() {
  local dir=$dr_pki.new
  cat >"$dir/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: dr-cluster
  cluster:
    server: https://$DR_NODE_IP:6443
    certificate-authority-data: $(base64 -w0 "$dir/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $(base64 -w0 "$dir/$2.crt")
    client-key-data: $(base64 -w0 "$dir/$2.key")
contexts:
- name: dr-cluster
  context:
    cluster: dr-cluster
    user: $2
    namespace: default
current-context: dr-cluster
EOF
}

# The CA, every certificate and kubeconfig, and the service-account key: made once, kept across
# down/up, made again only when the node address, Service range or this script's layout changes.
ensure_pki() {
  local params="v1 node=$DR_NODE_IP services=$DR_SERVICE_CIDR name=$dr_node_name"
  if [[ -f $dr_pki/params && $(cat "$dr_pki/params") == "$params" && -f $dr_kubeconfig ]]; then
    return 0
  fi
  dr_log "generating certificates in $dr_pki (once)"
  local dir=$dr_pki.new svc_ip
  svc_ip=$(dr_first_ip "$DR_SERVICE_CIDR")
  rm -rf "$dir"
  mkdir -p "$dir"
  chmod 0700 "$dir"
  openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$dir/ca.key" -subj "/CN=dr-cluster-ca" \
    -days 3650 -sha256 -addext "basicConstraints = critical, CA:TRUE" \
    -addext "keyUsage = critical, keyCertSign, cRLSign, digitalSignature" -out "$dir/ca.crt" 2>/dev/null
  issue apiserver "/CN=kube-apiserver" server \
    "IP:$DR_NODE_IP, IP:127.0.0.1, IP:$svc_ip, DNS:localhost, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local"
  issue apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" client
  issue admin "/O=system:masters/CN=admin" client
  issue controller-manager "/CN=system:kube-controller-manager" client
  issue scheduler "/CN=system:kube-scheduler" client
  issue kube-proxy "/CN=system:kube-proxy" client
  issue kubelet "/O=system:nodes/CN=system:node:$dr_node_name" client
  issue kubelet-serving "/O=system:nodes/CN=system:node:$dr_node_name" server "IP:$DR_NODE_IP, DNS:$dr_node_name"
  openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
  openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
  local k
  for k in admin controller-manager scheduler kube-proxy kubelet; do kubeconfig "$k" "$k"; done
  echo "$params" >"$dir/params"
  rm -rf "$dr_pki"
  mv "$dir" "$dr_pki"
  install -m 0600 "$dr_pki/admin.kubeconfig" "$dr_kubeconfig"
}

# ---------------------------------------------------------------------------------------------
# configuration files

cni_bin_dir() {
  local d
  for d in ${DR_CNI_BIN_DIR:-} /usr/lib/cni /opt/cni/bin; do
    [[ -n $d && -x $d/bridge && -x $d/host-local ]] && { echo "$d"; return 0; }
  done
  dr_die "no CNI plugins (bridge, host-local) in /usr/lib/cni or /opt/cni/bin; run tests/envtest/node-deps.sh"
}

write_configs() {
  local pause_ref=$1 cni_bin pod_gw
  cni_bin=$(cni_bin_dir)
  pod_gw=$(dr_first_ip "$DR_POD_CIDR")
  mkdir -p "$dr_state"/{config,cni/net.d,cni/ipam,containerd,kubelet/pki,pod-logs,etcd}
  chmod 0700 "$dr_state/etcd"

  cat >"$dr_state/config/containerd.toml" <<EOF
version = 2
root = "$dr_state/containerd/root"
state = "$dr_state/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing"]

[grpc]
  address = "$dr_containerd_sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "$dr_state/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause_ref"
  # No CAP_SYS_RESOURCE in this VM: runc cannot lower oom_score_adj below ours.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$dr_state/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$cni_bin"
    conf_dir = "$dr_state/cni/net.d"
    max_conf_num = 1
EOF

  # Routes only to the Service range and the node address: pods reach the API server (through the
  # kubernetes Service or directly) and nothing beyond this machine.
  cat >"$dr_state/cni/net.d/10-$dr_cni_network.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$dr_cni_network",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$dr_bridge",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$dr_state/cni/ipam",
        "ranges": [[{ "subnet": "$DR_POD_CIDR", "gateway": "$pod_gw" }]],
        "routes": [{ "dst": "$DR_SERVICE_CIDR" }, { "dst": "$DR_NODE_IP/32" }]
      }
    }
  ]
}
EOF

  cat >"$dr_state/config/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This VM: cgroup v1, no systemd, no CAP_SYS_RESOURCE, swap allowed, no resolver for pods.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /$dr_cgroup
failSwapOn: false
resolvConf: ""
containerRuntimeEndpoint: unix://$dr_containerd_sock
imageServiceEndpoint: unix://$dr_containerd_sock
address: $DR_NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: $dr_pki/ca.crt
authorization:
  mode: Webhook
tlsCertFile: $dr_pki/kubelet-serving.crt
tlsPrivateKeyFile: $dr_pki/kubelet-serving.key
rotateCertificates: false
serverTLSBootstrap: false
podLogsDir: $dr_state/pod-logs
clusterDomain: cluster.local
# A test disk: evict only when nearly full; never collect images (local images cannot be pulled again).
# Free space as an absolute amount: on a large shared disk 1 % is gigabytes that other builds use.
evictionHard:
  memory.available: 50Mi
  nodefs.available: $DR_EVICTION_DISK
  nodefs.inodesFree: 1%
  imagefs.available: $DR_EVICTION_DISK
  imagefs.inodesFree: 1%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
maxPods: 50
EOF

  cat >"$dr_state/config/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $dr_pki/kube-proxy.kubeconfig
hostnameOverride: $dr_node_name
bindAddress: $DR_NODE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
mode: iptables
clusterCIDR: $DR_POD_CIDR
detectLocalMode: ClusterCIDR
# NodePorts only on the node address (never on eth0); leave the host's conntrack settings alone.
nodePortAddresses: ["$DR_NODE_IP/32"]
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
EOF
}

# ---------------------------------------------------------------------------------------------
# iptables

# KUBE-* chains (kube-proxy, the kubelet) and CNI-* chains, in every table of both families.
iptables_ours() {
  local ipt
  for ipt in iptables ip6tables; do
    command -v "$ipt-save" >/dev/null || continue
    "$ipt-save" 2>/dev/null | grep -E '^:(KUBE|CNI)-' | sed "s/^/$ipt /" || true
  done
}

# Deletes the rules that jump to KUBE-*/CNI-* chains, then those chains, with iptables-restore
# (the rules are given back exactly as iptables-save printed them).
iptables_cleanup() {
  local ipt table script
  for ipt in iptables ip6tables; do
    command -v "$ipt-save" >/dev/null || continue
    for table in raw mangle nat filter; do
      script=$("$ipt-save" -t "$table" 2>/dev/null | awk -v table="$table" '
        /^:(KUBE|CNI)-/ { chains[++n] = substr($1, 2) }
        /^-A / && $2 !~ /^(KUBE|CNI)-/ && / -j (KUBE|CNI)-/ { sub(/^-A /, "-D "); dels[++m] = $0 }
        END {
          if (n + m == 0) exit
          print "*" table
          for (i = 1; i <= m; i++) print dels[i]
          for (i = 1; i <= n; i++) print "-F " chains[i]
          for (i = 1; i <= n; i++) print "-X " chains[i]
          print "COMMIT"
        }')
      [[ -z $script ]] && continue
      echo "$script" | "$ipt-restore" --noflush ||
        dr_log "warning: could not remove the $table KUBE-*/CNI-* rules of $ipt"
    done
  done
}

# ---------------------------------------------------------------------------------------------
# up

healthy() {
  local d
  [[ -f $dr_state/up ]] || return 1
  for d in "${daemons[@]}"; do daemon_alive "$d" || return 1; done
  kubectl_ get --raw /readyz >/dev/null 2>&1
}

preflight() {
  local p
  for p in "${ports[@]}"; do
    if ss -Hltn "sport = :$p" | grep . >/dev/null; then
      dr_die "port $p is in use ($(ss -Hltnp "sport = :$p" | head -n1)); another cluster running?"
    fi
  done
  if ip -4 addr show dev lo | grep " $DR_NODE_IP/" >/dev/null; then
    dr_die "$DR_NODE_IP is already on lo but no cluster state is in $dr_state; remove it (ip addr del $DR_NODE_IP/32 dev lo) or set DR_NODE_IP"
  fi
  if ip link show "$dr_bridge" >/dev/null 2>&1; then
    dr_die "a link named $dr_bridge exists but no cluster state is in $dr_state; remove it (ip link del $dr_bridge)"
  fi
  if [[ -n $(iptables_ours) ]]; then
    dr_die "iptables already holds KUBE-*/CNI-* chains (another kube-proxy or CNI on this host?); refusing to start one that would remove them on teardown"
  fi
}

up() {
  if [[ -d $dr_state ]]; then
    # shellcheck source=/dev/null
    source "$dr_state/config.env" 2>/dev/null || true
    dr_bin_cp=${dr_bin_cp:-}
    if [[ -n $dr_bin_cp ]] && healthy; then
      dr_log "already running"
      echo "$dr_kubeconfig"
      return 0
    fi
    dr_log "found the leftovers of a cluster that is not running; tearing them down first"
    down
    # down may have read other settings from the old config.env; take the environment's again.
    exec bash "${BASH_SOURCE[0]}" up
  fi
  local start=$SECONDS

  bash "$dr_repo/tests/envtest/node-deps.sh" all
  dr_bin_cp=$(bash "$dr_repo/tests/envtest/build.sh" | tail -n1)
  dr_bin_node=$(bash "$dr_repo/tests/envtest/build.sh" --node | tail -n1)
  local helm_dir
  helm_dir=$(bash "$dr_repo/tests/envtest/build-helm.sh" | tail -n1)
  # kubectl and helm of the tool cache, at a stable path (PATH=$DR_CLUSTER_DIR/bin:$PATH).
  mkdir -p "$DR_CLUSTER_DIR/bin"
  ln -sfn "$dr_bin_cp/kubectl" "$DR_CLUSTER_DIR/bin/kubectl"
  ln -sfn "$helm_dir/helm" "$DR_CLUSTER_DIR/bin/helm"
  local pause_ref
  pause_ref=$(bash "$dr_repo/scripts/image.sh" pause | tail -n1)
  preflight
  local t
  t=$SECONDS
  ensure_pki
  ((SECONDS - t < 1)) || dr_log "certificates in $((SECONDS - t)) s"

  dr_log "starting (state in $dr_state)"
  mkdir -p "$dr_state"/{pids,logs}
  cat >"$dr_state/config.env" <<EOF
DR_NODE_IP=$DR_NODE_IP
DR_POD_CIDR=$DR_POD_CIDR
DR_SERVICE_CIDR=$DR_SERVICE_CIDR
dr_bin_cp=$dr_bin_cp
dr_bin_node=$dr_bin_node
EOF
  # What `down` must undo: host paths that do not exist yet, the sysctls as they are now.
  local p s
  for p in "${host_paths[@]}"; do [[ -e $p ]] || echo "$p"; done >"$dr_state/created-paths"
  for s in "${sysctls[@]}"; do
    sysctl -n "$s" >/dev/null 2>&1 && echo "$s=$(sysctl -n "$s")"
  done >"$dr_state/sysctls"
  write_configs "$pause_ref"
  make_cgroups
  touch "$dr_state/address-added"
  ip addr add "$DR_NODE_IP/32" dev lo
  local daemons_start=$SECONDS

  start_daemon etcd "$dr_bin_cp/etcd" --name=dr --data-dir="$dr_state/etcd" \
    --listen-client-urls=http://127.0.0.1:2379 --advertise-client-urls=http://127.0.0.1:2379 \
    --listen-peer-urls=http://127.0.0.1:2380 --initial-advertise-peer-urls=http://127.0.0.1:2380 \
    --initial-cluster=dr=http://127.0.0.1:2380 --unsafe-no-fsync --log-level=warn
  start_daemon containerd containerd --config "$dr_state/config/containerd.toml"
  wait_for "etcd" etcd 30 curl -fsS http://127.0.0.1:2379/health

  start_daemon kube-apiserver "$dr_bin_cp/kube-apiserver" \
    --etcd-servers=http://127.0.0.1:2379 \
    --bind-address="$DR_NODE_IP" --advertise-address="$DR_NODE_IP" --secure-port=6443 \
    --tls-cert-file="$dr_pki/apiserver.crt" --tls-private-key-file="$dr_pki/apiserver.key" \
    --client-ca-file="$dr_pki/ca.crt" \
    --kubelet-client-certificate="$dr_pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$dr_pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$dr_pki/ca.crt" --kubelet-preferred-address-types=InternalIP \
    --service-account-key-file="$dr_pki/sa.pub" --service-account-signing-key-file="$dr_pki/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range="$DR_SERVICE_CIDR" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --profiling=false --v=1
  wait_for "the API server" kube-apiserver 60 kubectl_ get --raw /readyz
  wait_for "containerd" containerd 30 dr_containerd_up

  local tar
  for tar in "$dr_images"/*.tar; do
    [[ -f $tar ]] || continue
    ctr --address "$dr_containerd_sock" -n k8s.io images import "$tar" >/dev/null ||
      dr_die "ctr images import $tar failed"
    dr_log "imported $(cat "$tar.ref" 2>/dev/null || echo "$tar")"
  done

  start_daemon kube-controller-manager "$dr_bin_node/kube-controller-manager" \
    --kubeconfig="$dr_pki/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$dr_pki/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$dr_pki/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=10257 --leader-elect=false \
    --use-service-account-credentials=true \
    --service-account-private-key-file="$dr_pki/sa.key" --root-ca-file="$dr_pki/ca.crt" \
    --cluster-signing-cert-file="$dr_pki/ca.crt" --cluster-signing-key-file="$dr_pki/ca.key" \
    --service-cluster-ip-range="$DR_SERVICE_CIDR" --allocate-node-cidrs=false \
    --cluster-name=dr-cluster --profiling=false --v=1
  start_daemon kube-scheduler "$dr_bin_node/kube-scheduler" \
    --kubeconfig="$dr_pki/scheduler.kubeconfig" \
    --authentication-kubeconfig="$dr_pki/scheduler.kubeconfig" \
    --authorization-kubeconfig="$dr_pki/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=10259 --leader-elect=false --profiling=false --v=1
  start_daemon kubelet "$dr_bin_node/kubelet" \
    --config="$dr_state/config/kubelet.yaml" --kubeconfig="$dr_pki/kubelet.kubeconfig" \
    --hostname-override="$dr_node_name" --node-ip="$DR_NODE_IP" \
    --root-dir="$dr_state/kubelet" --cert-dir="$dr_state/kubelet/pki" --v=1
  start_daemon kube-proxy "$dr_bin_node/kube-proxy" --config="$dr_state/config/kube-proxy.yaml" --v=1

  wait_for "node $dr_node_name to be Ready" kubelet 120 node_ready
  dr_log "node Ready $((SECONDS - daemons_start)) s after the first daemon started"
  wait_for "kube-proxy to sync its rules" kube-proxy 60 curl -fsS http://127.0.0.1:10256/healthz
  wait_for "the default service account" kube-controller-manager 60 kubectl_ get serviceaccount default -n default
  touch "$dr_state/up"
  dr_log "up in $((SECONDS - start)) s; node $dr_node_name Ready, API server https://$DR_NODE_IP:6443"
  dr_log "  export KUBECONFIG=$dr_kubeconfig PATH=$DR_CLUSTER_DIR/bin:\$PATH   (kubectl, helm)"
  dr_log "  logs: $dr_state/logs/   stop: make cluster-down"
  echo "$dr_kubeconfig"
}

node_ready() {
  [[ $(kubectl_ get node "$dr_node_name" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

# ---------------------------------------------------------------------------------------------
# down

down() {
  local start=$SECONDS
  if [[ -f $dr_state/config.env ]]; then
    # shellcheck source=/dev/null
    source "$dr_state/config.env"
  fi

  # 1. The daemons by the PIDs recorded (checked to be ours), in stages so that none waits on one
  #    already gone (the API server hangs in its shutdown without etcd): node daemons and
  #    controllers, then the API server, then etcd and containerd; SIGTERM, then SIGKILL after 5 s.
  #    Then whatever is left in the cluster's cgroup (containerd shims, containers), frozen so
  #    nothing forks meanwhile.
  local stage d left
  for stage in "kube-proxy kubelet kube-scheduler kube-controller-manager" kube-apiserver "etcd containerd"; do
    for d in $stage; do
      if daemon_alive "$d"; then kill -TERM "$(cat "$dr_state/pids/$d")" 2>/dev/null || true; fi
    done
    for _ in $(seq 25); do
      left=""
      for d in $stage; do daemon_alive "$d" && left+=" $d"; done
      [[ -z $left ]] && break
      sleep 0.2
    done
    if [[ -n $left ]]; then
      dr_log "still running 5 s after SIGTERM, killing:$left"
      for d in $left; do kill -KILL "$(cat "$dr_state/pids/$d")" 2>/dev/null || true; done
    fi
  done
  local pids rounds=0
  pids=$(cluster_pids)
  [[ -n $pids ]] && dr_log "killing what is left in /$dr_cgroup: $(echo "$pids" | wc -l) processes (shims, containers)"
  while [[ -n $pids ]] && ((rounds++ < 50)); do
    set_frozen FROZEN
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    set_frozen THAWED
    sleep 0.2
    pids=$(cluster_pids)
  done
  set_frozen THAWED

  # 2. Mounts under the state directory (overlay rootfs, netns, secret tmpfs, shm), deepest first.
  if [[ -d $dr_state ]]; then
    local state_real m
    state_real=$(realpath "$dr_state")
    for _ in 1 2 3; do
      mapfile -t mounts < <(awk -v s="$state_real/" 'index($5, s) == 1 { print $5 }' /proc/self/mountinfo | sort -r -u)
      [[ ${#mounts[@]} -eq 0 ]] && break
      for m in "${mounts[@]}"; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
      done
    done
  fi

  # 3. Network: the bridge (veths went with their namespaces), iptables chains, the address.
  ip link del "$dr_bridge" 2>/dev/null || true
  if [[ -n ${dr_bin_node:-} && -x $dr_bin_node/kube-proxy ]]; then
    "$dr_bin_node/kube-proxy" --cleanup >/dev/null 2>&1 || true
  fi
  iptables_cleanup
  if [[ -f $dr_state/address-added ]]; then
    ip addr del "$DR_NODE_IP/32" dev lo 2>/dev/null || true
  fi

  # 4. Sysctls back as they were; then cgroups and host paths.
  if [[ -f $dr_state/sysctls ]]; then
    local kv
    while IFS= read -r kv; do sysctl -q -w "$kv" >/dev/null 2>&1 || true; done <"$dr_state/sysctls"
  fi
  remove_cgroups
  # The kubelet links every container log into /var/log/containers (a fixed path); libcni caches
  # results in /var/lib/cni/results (also fixed).
  if [[ -d /var/log/containers ]]; then
    find /var/log/containers -maxdepth 1 -type l -lname "$dr_state/*" -delete 2>/dev/null || true
  fi
  rm -f /var/lib/cni/results/"$dr_cni_network"-* 2>/dev/null || true
  if [[ -f $dr_state/created-paths ]]; then
    local p
    while IFS= read -r p; do
      [[ -n $p && -e $p ]] || continue
      # Only what the cluster left there (a directory someone else filled meanwhile stays).
      find "$p" -depth \( -type s -o -type f -o -type l \) -delete 2>/dev/null || true
      find "$p" -depth -type d -empty -delete 2>/dev/null || true
    done <"$dr_state/created-paths"
  fi

  # 5. The last logs for post-mortems, then the state directory.
  if [[ -d $dr_state/logs ]]; then
    rm -rf "$DR_CLUSTER_DIR/last-logs"
    cp -a "$dr_state/logs" "$DR_CLUSTER_DIR/last-logs" 2>/dev/null || true
  fi
  rm -rf "$dr_state" 2>/dev/null || true

  # 6. Anything still there is reported, and fails the teardown.
  local problems=()
  [[ -n $(cluster_pids) ]] && problems+=("processes in the cgroup /$dr_cgroup: $(cluster_pids | tr '\n' ' ')")
  awk -v s="$(realpath -m "$dr_state")/" 'index($5, s) == 1 { f = 1 } END { exit !f }' /proc/self/mountinfo &&
    problems+=("mounts under $dr_state")
  [[ -e $dr_state ]] && problems+=("$dr_state could not be removed")
  ip link show "$dr_bridge" >/dev/null 2>&1 && problems+=("the bridge $dr_bridge")
  ip -4 addr show dev lo | grep " $DR_NODE_IP/" >/dev/null && problems+=("$DR_NODE_IP on lo")
  [[ -n $(iptables_ours) ]] && problems+=("iptables chains: $(iptables_ours | tr '\n' ' ')")
  local root
  for root in $(cgroup_roots); do [[ -d $root/$dr_cgroup ]] && problems+=("cgroup $root/$dr_cgroup"); done
  if [[ ${#problems[@]} -gt 0 ]]; then
    for p in "${problems[@]}"; do dr_log "left behind: $p"; done
    dr_die "teardown incomplete"
  fi
  dr_log "down in $((SECONDS - start)) s; nothing left (certificates and images kept in $DR_CLUSTER_DIR)"
}

# ---------------------------------------------------------------------------------------------
# status

status() {
  if [[ ! -d $dr_state ]]; then
    echo "cluster: not running (no $dr_state)"
    return 3
  fi
  # shellcheck source=/dev/null
  source "$dr_state/config.env" 2>/dev/null || true
  local d rc=0
  for d in "${daemons[@]}"; do
    if daemon_alive "$d"; then
      echo "$d: running (pid $(cat "$dr_state/pids/$d"))"
    else
      echo "$d: NOT running (log: $dr_state/logs/$d.log)"
      rc=1
    fi
  done
  if [[ -n ${dr_bin_cp:-} ]] && node_ready; then
    echo "node $dr_node_name: Ready"
  else
    echo "node $dr_node_name: not Ready"
    rc=1
  fi
  echo "kubeconfig: $dr_kubeconfig"
  return $rc
}

[[ $(id -u) -eq 0 ]] || dr_die "needs root (cgroups, mounts, a bridge, an address on lo, iptables)"
# One `up` or `down` at a time.
lock() {
  mkdir -p "$DR_CLUSTER_DIR"
  exec 7>"$DR_CLUSTER_DIR/.lock"
  flock -n 7 || dr_die "another scripts/cluster.sh up/down is running ($DR_CLUSTER_DIR/.lock)"
}
case "${1:-}" in
  up) lock && up ;;
  down) lock && down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
