#!/usr/bin/env bash
# The real-node smoke test (docs/testing.md, "Real node"): brings up the local single-node cluster
# (scripts/cluster.sh), builds and imports the image (scripts/image.sh), and checks on it
#
#   1. a Pod of the image (`digital-recovery crd`) runs to Succeeded as uid 65532 with a read-only
#      root filesystem, in a namespace enforcing the `restricted` Pod Security level;
#   2. a long-running Pod of it (`simulate`) runs as uid 65532 (the kernel's view of the process),
#      its root mount is read-only, and the image holds no shell (`kubectl exec -- sh` fails);
#   3. an Indexed Job of 3 completions runs to Complete (the real job controller and kubelet);
#   4. a Pod reaches the API server through the `kubernetes` Service (kube-proxy's rules,
#      the bridge's routes, in-cluster config, its service-account token):
#      `digital-recovery report` lists ConfigMaps and exits 0;
#
# then tears the cluster down and checks that nothing is left (processes, mounts, the bridge, the
# address on lo, iptables chains, cgroups, the state directory). Prints the timings.
#
# Needs root. Refuses to run while a cluster is up (it would tear yours down). DR_SMOKE_KEEP=1
# leaves the cluster up at the end (and on failure) for a look around.
set -euo pipefail

# shellcheck source=cluster-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster-env.sh"

[[ $(id -u) -eq 0 ]] || dr_die "the smoke test needs root (it runs a cluster)"
if [[ -d $dr_state ]] && bash "$dr_repo/scripts/cluster.sh" status >/dev/null 2>&1; then
  dr_die "a cluster is running; \`make cluster-down\` first (the smoke test tears its cluster down)"
fi

ns=smoke
timings=()
ok() { echo "smoke: ok: $*" >&2; }
fail() {
  echo "smoke: FAILED: $*" >&2
  exit 1
}
timed() {
  local label=$1 t0=$SECONDS
  shift
  "$@"
  timings+=("$label: $((SECONDS - t0)) s")
}

cleanup() {
  local rc=$?
  if ((rc != 0)); then
    echo "smoke: --- state at failure ---" >&2
    if [[ -n ${kubectl:-} ]]; then
      k get pods,jobs -o wide >&2 2>&1 || true
      k get events --sort-by=.lastTimestamp >&2 2>&1 | tail -n 30 || true
    fi
  fi
  if [[ ${DR_SMOKE_KEEP:-} == 1 ]]; then
    echo "smoke: DR_SMOKE_KEEP=1: cluster left up (make cluster-down)" >&2
  elif ((rc != 0)); then
    bash "$dr_repo/scripts/cluster.sh" down >&2 || true
  fi
  exit "$rc"
}
trap cleanup EXIT

# Host paths the cluster may create; each one missing now must be missing after teardown.
absent_before=()
for p in /run/containerd /var/lib/kubelet /var/log/pods /var/lib/cni /etc/cni /opt/containerd \
  /var/lib/containerd /run/netns /etc/kubernetes /run/runc /run/xtables.lock; do
  [[ -e $p ]] || absent_before+=("$p")
done

up_() { kubeconfig=$(bash "$dr_repo/scripts/cluster.sh" up | tail -n1); }
timed "cluster up (binaries cached)" up_
dr_bin_cp='' dr_bin_node=''
# shellcheck source=/dev/null
source "$dr_state/config.env"
kubectl=$dr_bin_cp/kubectl
k() { "$kubectl" --kubeconfig "$kubeconfig" -n "$ns" "$@"; }
ok "cluster up, kubeconfig $kubeconfig"

image_() { image=$(bash "$dr_repo/scripts/image.sh" app | tail -n1); }
timed "image build + import" image_
ok "image $image"

k create namespace "$ns" >/dev/null
k label namespace "$ns" pod-security.kubernetes.io/enforce=restricted \
  pod-security.kubernetes.io/enforce-version=latest >/dev/null

# The restricted level, spelled out (the namespace rejects any pod without it).
pod_security='securityContext: {runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: {type: RuntimeDefault}}'
container_security='securityContext: {readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}'

# 0. The namespace enforces restricted: a pod without those settings is refused.
if k run refused --image="$image" --image-pull-policy=Never --restart=Never -- crd >/dev/null 2>&1; then
  fail "a pod without the restricted settings was admitted"
fi
ok "namespace $ns enforces the restricted Pod Security level"

# 1. + 4. Pods running `crd` and `report` (the latter needs to list ConfigMaps).
k apply -f - >/dev/null <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: list-configmaps}
rules:
- {apiGroups: [""], resources: [configmaps], verbs: [list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: list-configmaps}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: list-configmaps}
subjects:
- {kind: ServiceAccount, name: default, namespace: $ns}
---
apiVersion: v1
kind: Pod
metadata: {name: crd}
spec:
  restartPolicy: Never
  $pod_security
  containers:
    - name: main
      image: $image
      imagePullPolicy: Never
      args: ["crd"]
      $container_security
---
apiVersion: v1
kind: Pod
metadata: {name: api}
spec:
  restartPolicy: Never
  $pod_security
  containers:
    - name: main
      image: $image
      imagePullPolicy: Never
      args: ["report", "--namespace", "$ns", "nothing-here"]
      $container_security
---
apiVersion: v1
kind: Pod
metadata: {name: serve}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 5
  $pod_security
  containers:
    - name: main
      image: $image
      imagePullPolicy: Never
      args: ["simulate", "--conversations", "10"]
      $container_security
---
apiVersion: batch/v1
kind: Job
metadata: {name: indexed}
spec:
  completions: 3
  parallelism: 3
  completionMode: Indexed
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      $pod_security
      containers:
        - name: main
          image: $image
          imagePullPolicy: Never
          args: ["crd"]
          $container_security
EOF

# wait_phase POD PHASE SECONDS
wait_phase() {
  local deadline=$((SECONDS + $3)) phase
  while :; do
    phase=$(k get pod "$1" -o 'jsonpath={.status.phase}')
    [[ $phase == "$2" ]] && return 0
    [[ $phase == Failed ]] && { k logs "$1" >&2 || true; fail "pod $1 Failed"; }
    ((SECONDS < deadline)) || { k describe pod "$1" >&2 || true; fail "pod $1 is $phase, not $2, after $3 s"; }
    sleep 0.3
  done
}

t0=$SECONDS
wait_phase crd Succeeded 120
timings+=("pod crd created to Succeeded (with 6 other pods starting): $((SECONDS - t0)) s")
k logs crd | grep "kind: CustomResourceDefinition" >/dev/null || fail "pod crd did not print the CRDs"
ok "pod crd Succeeded as 65532, read-only root, restricted"

wait_phase api Succeeded 120
ok "pod api reached the API server through the kubernetes Service ($(k logs api 2>&1 | head -n1))"

wait_phase serve Running 120
cid=$(k get pod serve -o 'jsonpath={.status.containerStatuses[0].containerID}')
cid=${cid#containerd://}
pid=$(ctr --address "$dr_containerd_sock" -n k8s.io tasks ls | awk -v id="$cid" '$1 == id { print $2 }')
[[ -n $pid && -d /proc/$pid ]] || fail "no process for container $cid"
uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status")
[[ $uids == "65532 65532 65532 65532" ]] || fail "simulate runs with uids '$uids', not 65532"
root_opts=$(awk '$5 == "/" { print $6 }' "/proc/$pid/mountinfo" | tail -n1)
[[ $root_opts == ro* ]] || fail "the root mount of simulate is '$root_opts', not read-only"
if k exec serve -- sh -c true >/dev/null 2>&1; then fail "the image has a shell"; fi
ok "pod serve: process $pid runs as uid 65532, root mount $root_opts, no shell in the image"

k wait --for=condition=Complete job/indexed --timeout=180s >/dev/null ||
  { k describe job indexed >&2; fail "job indexed did not complete"; }
job_times=$(k get job indexed -o 'jsonpath={.metadata.creationTimestamp} {.status.completionTime}')
timings+=("Indexed Job (3 completions) created to Complete: $(($(date -d "${job_times#* }" +%s) - $(date -d "${job_times% *}" +%s))) s")
indexes=$(k get pods -l job-name=indexed -o 'jsonpath={range .items[*]}{.metadata.annotations.batch\.kubernetes\.io/job-completion-index}{"\n"}{end}' | sort | tr '\n' ' ')
[[ $indexes == "0 1 2 " ]] || fail "job pods have completion indexes '$indexes', not 0 1 2"
[[ $(k get job indexed -o 'jsonpath={.status.succeeded}') == 3 ]] || fail "job indexed: succeeded != 3"
ok "Indexed Job of 3 completions Complete (indexes $indexes)"

# The Service path as kube-proxy programmed it.
svc_ip=$(dr_first_ip "$DR_SERVICE_CIDR")
[[ $(k get endpointslices -n default -l kubernetes.io/service-name=kubernetes -o 'jsonpath={.items[0].endpoints[0].addresses[0]}') == "$DR_NODE_IP" ]] ||
  fail "the kubernetes Service's endpoint is not $DR_NODE_IP"
iptables-save -t nat | grep -- "-d $svc_ip/32 .*KUBE-SVC-" >/dev/null || fail "no kube-proxy rule for $svc_ip"
ok "kube-proxy routes $svc_ip:443 to $DR_NODE_IP:6443"

if [[ ${DR_SMOKE_KEEP:-} == 1 ]]; then
  printf 'smoke: %s\n' "${timings[@]}" >&2
  echo "smoke: passed; cluster left up" >&2
  exit 0
fi

down_() { bash "$dr_repo/scripts/cluster.sh" down; }
timed "cluster down" down_

# Nothing left: checked here independently of cluster.sh's own check.
left=()
for b in "$dr_bin_cp"/etcd "$dr_bin_cp"/kube-apiserver "$dr_bin_node"/* /usr/bin/containerd; do
  pgrep -f "^$b( |$)" >/dev/null && left+=("process $b")
done
pgrep -f "containerd-shim-runc-v2 .*$dr_containerd_sock" >/dev/null && left+=("a containerd shim")
grep -q "$dr_state" /proc/self/mountinfo && left+=("mounts under $dr_state")
[[ -e $dr_state ]] && left+=("$dr_state")
ip link show "$dr_bridge" >/dev/null 2>&1 && left+=("bridge $dr_bridge")
ip -4 addr show dev lo | grep " $DR_NODE_IP/" >/dev/null && left+=("$DR_NODE_IP on lo")
iptables-save | grep -E '^:(KUBE|CNI)-' >/dev/null && left+=("iptables KUBE-/CNI- chains")
ls -d /sys/fs/cgroup/*/"$dr_cgroup" /sys/fs/cgroup/"$dr_cgroup" >/dev/null 2>&1 && left+=("cgroup $dr_cgroup")
for p in "${absent_before[@]}"; do [[ -e $p ]] && left+=("$p"); done
[[ ${#left[@]} -eq 0 ]] || fail "left after teardown: ${left[*]}"
ok "teardown left nothing behind"

printf 'smoke: %s\n' "${timings[@]}" >&2
echo "smoke: passed" >&2
