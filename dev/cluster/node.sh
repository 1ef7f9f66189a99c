# The opt-in node of a local control plane (`up --node`): kube-scheduler, containerd with
# runc and a CNI bridge, the kubelet and kube-proxy, so that Pods really run. Sourced by
# up and down after lib.sh, not executed.
#
# Versions that work together: the kubelet and kube-proxy are the control plane's own
# v1.34 (one build). containerd 1.6 and runc 1.1 are Debian 12's: containerd 1.6 speaks
# the CRI v1 API the kubelet requires (1.34 still accepts containerd 1.x, which 1.36
# drops), and both run on cgroup v1 with the cgroupfs driver (no systemd here), which the
# kubelet still supports in 1.34 (1.35 refuses v1 by default). The CNI plugins are
# Debian's containernetworking-plugins: bridge, host-local and loopback.
# shellcheck shell=bash disable=SC2154 # bin and the ports come from up

NODE_STATE="${STATE_DIR}/node"
REPO_DIR="$(cd "${CLUSTER_DIR}/../.." && pwd)"
CONTAINERD_SOCK="${NODE_STATE}/containerd/containerd.sock"
NODE_PACKAGES=(containerd runc containernetworking-plugins iptables conntrack)
CNI_BIN=/usr/lib/cni
PAUSE_IMAGE=gitseal.local/pause:3.10 # dev/image/pause builds it

node_prerequisites() {
    (( EUID == 0 )) || die "the node needs root (the kubelet, containerd, network and cgroups)"
    local missing=()
    command -v containerd >/dev/null || missing+=(containerd)
    command -v runc >/dev/null || missing+=(runc)
    [[ -x "${CNI_BIN}/bridge" ]] || missing+=(containernetworking-plugins)
    command -v iptables >/dev/null || missing+=(iptables)
    command -v conntrack >/dev/null || missing+=(conntrack)
    if (( ${#missing[@]} )); then
        log "installing ${NODE_PACKAGES[*]} (Debian packages) for the node"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends "${NODE_PACKAGES[@]}"; } >&2 \
            || die "could not install ${NODE_PACKAGES[*]}"
    fi
}

# One node per machine: its bridge and kube-proxy's iptables chains are the host's.
node_claim() {
    local owner
    mkdir -p "$(dirname "${NODE_OWNER}")"
    owner="$(cat "${NODE_OWNER}" 2>/dev/null || true)"
    if [[ -n "${owner}" && "${owner}" != "${STATE_DIR}" && -d "${owner}" ]]; then
        die "another control plane's node runs on this machine (${owner}); run its down first"
    fi
    echo "${STATE_DIR}" > "${NODE_OWNER}"
}

# The bridge exists before the API server starts: its address is the one the API server
# binds and advertises, which Pods reach through the `kubernetes` Service.
node_network() {
    ip link show "${NODE_BRIDGE}" >/dev/null 2>&1 || ip link add "${NODE_BRIDGE}" type bridge
    ip addr replace "${NODE_IP}/${POD_SUBNET#*/}" dev "${NODE_BRIDGE}"
    ip link set "${NODE_BRIDGE}" up
    # Pod -> Service -> Pod on one bridge needs bridged packets to pass iptables (kube-proxy's
    # DNAT); best effort, as on any kubeadm node.
    modprobe br_netfilter 2>/dev/null || true
    sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
    sysctl -qw net.ipv4.ip_forward=1 >/dev/null
}

node_cgroups() { # mkdir|rmdir
    local h
    for h in /sys/fs/cgroup/*/; do
        case "$1" in
            # The v1 hierarchies; runc also files containers in the hybrid unified one.
            mkdir) [[ "${h}" == */unified/ ]] || mkdir -p "${h}${NODE_CGROUP}" ;;
            rmdir) if [[ -d "${h}${NODE_CGROUP}" ]]; then
                find "${h}${NODE_CGROUP}" -depth -type d -exec rmdir {} + 2>/dev/null || true
            fi ;;
        esac
    done
}

node_configs() {
    local pki="${STATE_DIR}/pki"
    mkdir -p "${NODE_STATE}"/{containerd,cni,cni-ipam,kubelet,pod-logs}
    cat > "${NODE_STATE}/containerd/config.toml" <<EOF
version = 2
root = "${NODE_STATE}/containerd/root"
state = "${NODE_STATE}/containerd/state"
[grpc]
  address = "${CONTAINERD_SOCK}"
[ttrpc]
  address = "${CONTAINERD_SOCK}.ttrpc"
[debug]
  level = "warn"
[plugins."io.containerd.grpc.v1.cri"]
  # Built by dev/image/pause and imported by up: no registry is reachable.
  sandbox_image = "${PAUSE_IMAGE}"
  # Pod network namespaces are mounted in the state dir, so down finds every one of them.
  netns_mounts_under_state_dir = true
  enable_selinux = false
  # This VM's root lacks CAP_SYS_RESOURCE: no score below containerd's own (0); the
  # sandboxes' default -998 would fail every Pod.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        # runc's container state in the state dir too, not in the shared /run/containerd.
        Root = "${NODE_STATE}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${CNI_BIN}"
    conf_dir = "${NODE_STATE}/cni"
EOF
    # No ipMasq: Pods need the API server and each other, not the outside; without it the
    # bridge plugin adds no iptables rules that a forced teardown could leave behind.
    cat > "${NODE_STATE}/cni/10-gitseal.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "gitseal",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "${NODE_BRIDGE}",
      "isGateway": true,
      "isDefaultGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "${POD_SUBNET}", "gateway": "${NODE_IP}" }]],
        "dataDir": "${NODE_STATE}/cni-ipam"
      }
    }
  ]
}
EOF
    write_kubeconfig "${NODE_STATE}/kubelet.kubeconfig" "system:node:${NODE_NAME}" \
        "${pki}/kubelet.crt" "${pki}/kubelet.key"
    write_kubeconfig "${NODE_STATE}/kube-proxy.kubeconfig" system:kube-proxy \
        "${pki}/kube-proxy.crt" "${pki}/kube-proxy.key"
    write_kubeconfig "${NODE_STATE}/scheduler.kubeconfig" system:kube-scheduler \
        "${pki}/scheduler.crt" "${pki}/scheduler.key"
    # Eviction and image GC are off in effect: the images cannot be pulled again, and a
    # busy disk must not evict the controller under test.
    cat > "${NODE_STATE}/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: ${NODE_IP}
port: ${KUBELET_PORT}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: ${KUBELET_HEALTHZ_PORT}
tlsCertFile: ${pki}/kubelet-serving.crt
tlsPrivateKeyFile: ${pki}/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: ${pki}/ca.crt}
authorization: {mode: AlwaysAllow}
containerRuntimeEndpoint: unix://${CONTAINERD_SOCK}
cgroupDriver: cgroupfs
cgroupRoot: /${NODE_CGROUP}
failSwapOn: false
podLogsDir: ${NODE_STATE}/pod-logs
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
maxPods: 30
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  imagefs.available: 1%
  nodefs.inodesFree: 1%
rotateCertificates: false
EOF
    cat > "${NODE_STATE}/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection:
  kubeconfig: ${NODE_STATE}/kube-proxy.kubeconfig
hostnameOverride: ${NODE_NAME}
clusterCIDR: ${POD_SUBNET}
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:${PROXY_HEALTHZ_PORT}
metricsBindAddress: 127.0.0.1:${PROXY_METRICS_PORT}
# Leave the host's conntrack table size alone.
conntrack:
  maxPerCore: 0
iptables:
  localhostNodePorts: false
EOF
}

# kube-scheduler first (Pods need it as soon as anything creates them), then containerd
# and its images, the kubelet and kube-proxy; waits until each is healthy and the node is
# Ready. (The `kubernetes` Service's endpoint, the API server's advertised address, is set
# by the API server itself when it starts.)
node_start() {
    node_configs
    node_cgroups mkdir

    record_command kube-scheduler "${bin}/kube-scheduler" \
        --kubeconfig="${NODE_STATE}/scheduler.kubeconfig" \
        --authentication-kubeconfig="${NODE_STATE}/scheduler.kubeconfig" \
        --authorization-kubeconfig="${NODE_STATE}/scheduler.kubeconfig" \
        --bind-address=127.0.0.1 \
        --secure-port="${SCHEDULER_PORT}" \
        --cert-dir="${NODE_STATE}/scheduler-certs" \
        --leader-elect=false \
        --profiling=false \
        --v=1
    start_component kube-scheduler

    log "starting containerd (socket ${CONTAINERD_SOCK})"
    record_command containerd "$(command -v containerd)" --config "${NODE_STATE}/containerd/config.toml"
    start_component containerd
    wait_for "containerd" containerd probe containerd
    node_load_images

    log "starting the kubelet (node ${NODE_NAME}, ${NODE_IP}:${KUBELET_PORT})"
    record_command kubelet "${bin}/kubelet" \
        --config="${NODE_STATE}/kubelet.yaml" \
        --kubeconfig="${NODE_STATE}/kubelet.kubeconfig" \
        --root-dir="${NODE_STATE}/kubelet" \
        --cert-dir="${NODE_STATE}/kubelet/pki" \
        --hostname-override="${NODE_NAME}" \
        --node-ip="${NODE_IP}" \
        --v=1
    start_component kubelet

    log "starting kube-proxy (iptables mode)"
    record_command kube-proxy "${bin}/kube-proxy" --config="${NODE_STATE}/kube-proxy.yaml" --v=1
    start_component kube-proxy

    wait_for "kube-scheduler /healthz" kube-scheduler probe kube-scheduler
    wait_for "kube-proxy /healthz" kube-proxy probe kube-proxy
    wait_for "node ${NODE_NAME} Ready" kubelet "${kubectl[@]}" wait --for=condition=Ready \
        --timeout=2s "node/${NODE_NAME}"
}

# The sandbox image and this checkout's controller image, built without a daemon and
# imported into the node's containerd, where the kubelet finds them (never pulled).
node_load_images() {
    node_import "$("${REPO_DIR}/dev/image/pause" | tail -n1)"
    node_load_controller_image
}

# Also on every `up --node` of a running node: a Pod started afterwards runs this
# checkout's controller (the tag stays; the import replaces what it names).
# GITSEAL_CONTROLLER_IMAGE names an archive already built (tests/run: the release's, from
# dev/release/build) instead of building one.
node_load_controller_image() {
    if [[ -n "${GITSEAL_CONTROLLER_IMAGE:-}" ]]; then
        [[ -f "${GITSEAL_CONTROLLER_IMAGE}" ]] || die "GITSEAL_CONTROLLER_IMAGE: no file ${GITSEAL_CONTROLLER_IMAGE}"
        node_import "${GITSEAL_CONTROLLER_IMAGE}"
    else
        node_import "$("${REPO_DIR}/dev/image/build" | tail -n1)"
    fi
}

node_import() { # <oci archive>
    log "importing $(basename "$1") into the node's containerd"
    ctr --address "${CONTAINERD_SOCK}" --namespace k8s.io images import "$1" >&2
}

# Stops the node and removes everything it made outside the state dir: Pods' processes,
# mounts, cgroups, the bridge, kube-proxy's iptables rules. Safe when there is no node.
node_stop() {
    local pid dir procs=()
    node_ours || return 0
    stop_component kube-proxy
    stop_component kubelet
    stop_component kube-scheduler
    # Every process of every Pod (they are in the kubelet's cgroup root), then containerd
    # and its shims (theirs name this state dir in their arguments).
    for dir in /sys/fs/cgroup/*/"${NODE_CGROUP}"; do
        [[ -d "${dir}" ]] || continue
        mapfile -t -O "${#procs[@]}" procs < <(find "${dir}" -name cgroup.procs -exec cat {} + 2>/dev/null)
    done
    if (( ${#procs[@]} )); then
        log "killing the node's Pod processes"
        kill -KILL "${procs[@]}" 2>/dev/null || true
    fi
    stop_component containerd
    for dir in /proc/[0-9]*; do
        pid="${dir#/proc/}"
        [[ "$(cat "${dir}/comm" 2>/dev/null)" == containerd-shim* ]] && ours "${pid}" \
            && kill -KILL "${pid}" 2>/dev/null
    done
    # Mounts (Pods' volumes, container root filesystems, network namespaces), deepest first.
    local mounts
    mapfile -t mounts < <(awk -v d="${STATE_DIR}/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
    for dir in "${mounts[@]}"; do
        umount "${dir}" 2>/dev/null || umount -l "${dir}" 2>/dev/null || true
    done
    node_cgroups rmdir
    if [[ "$(cat "${NODE_OWNER}" 2>/dev/null)" == "${STATE_DIR}" ]]; then
        node_iptables_cleanup
        ip link del "${NODE_BRIDGE}" 2>/dev/null || true
    fi
}

# Whether this state dir's cluster has (or had, before a crash) the node: only then may
# down touch the node's cgroups, bridge and chains, which another cluster may own.
node_ours() {
    [[ "$(cat "${NODE_OWNER}" 2>/dev/null)" == "${STATE_DIR}" ]] \
        || { [[ -f "${STATE_DIR}/env" ]] && [[ "$(state_env NODE)" == 1 ]]; }
}

# After node_stop and the control plane's stop: fails naming whatever is still there;
# otherwise gives the machine's node back.
node_release() {
    local left
    left="$(node_leftovers)"
    [[ -z "${left}" ]] || die "left behind (the state dir is kept for a look):"$'\n'"${left}"
    if [[ "$(cat "${NODE_OWNER}" 2>/dev/null)" == "${STATE_DIR}" ]]; then
        rm -rf "$(dirname "${NODE_OWNER}")"
    fi
}

# Prints what this state dir's cluster left on the machine, one line each: processes,
# mounts and, if it had the node, its cgroups, the bridge and iptables chains. Nothing when it
# is clean. Meaningful once everything is stopped (the control plane's processes count).
node_leftovers() {
    local dir pid
    for dir in /proc/[0-9]*; do
        pid="${dir#/proc/}"
        [[ "${pid}" == "$$" || "${pid}" == "${BASHPID}" ]] && continue
        ours "${pid}" && echo "process ${pid} ($(cat "${dir}/comm" 2>/dev/null))"
    done
    awk -v d="${STATE_DIR}/" 'index($5, d) == 1 { print "mount " $5 }' /proc/self/mountinfo
    node_ours || return 0
    for dir in /sys/fs/cgroup/*/"${NODE_CGROUP}"; do
        [[ -d "${dir}" ]] && echo "cgroup ${dir}"
    done
    ip link show "${NODE_BRIDGE}" >/dev/null 2>&1 && echo "bridge ${NODE_BRIDGE}"
    iptables-save 2>/dev/null | awk '$1 ~ /^:KUBE-/ { print "iptables chain " substr($1, 2) }'
}

# kube-proxy's chains (Services) and the kubelet's (KUBE-FIREWALL, canaries), in every
# table and both families: the jumps into them from the built-in chains, then the chains.
# The node is the machine's only Kubernetes node (node_claim), so every KUBE-* chain is its.
node_iptables_cleanup() {
    local ipt table rule chain chains
    for ipt in iptables ip6tables; do
        command -v "${ipt}" >/dev/null || continue
        for table in filter nat mangle; do
            "${ipt}" -t "${table}" -S >/dev/null 2>&1 || continue
            while read -r rule; do
                # -S prints each rule shell-quoted (comments); eval splits it back.
                eval "${ipt} -t ${table} -D ${rule#-A }" 2>/dev/null || true
            done < <("${ipt}" -t "${table}" -S | awk '$1 == "-A" && $2 !~ /^KUBE-/ && / -j KUBE-/')
            mapfile -t chains < <("${ipt}" -t "${table}" -S | awk '$1 == "-N" && $2 ~ /^KUBE-/ { print $2 }')
            for chain in "${chains[@]}"; do "${ipt}" -t "${table}" -F "${chain}"; done
            for chain in "${chains[@]}"; do "${ipt}" -t "${table}" -X "${chain}"; done
        done
    done
}
