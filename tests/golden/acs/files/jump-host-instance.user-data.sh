#!/bin/bash
export LLM_K8S_MINOR=1.30
set -euo pipefail

k8s_minor=${LLM_K8S_MINOR:?LLM_K8S_MINOR is required (e.g. 1.33)}
mirror=${LLM_K8S_MIRROR:-https://mirrors.cloud.aliyuncs.com/kubernetes-new/core/stable}
cli_version=${LLM_ALIYUN_CLI_VERSION:-3.0.277}
cli_url=${LLM_ALIYUN_CLI_URL:-https://aliyuncli.alicdn.com/aliyun-cli-linux-$cli_version-amd64.tgz}
bin_dir=${LLM_BIN_DIR:-/usr/local/bin}
etc_dir=${LLM_ETC_DIR:-/etc/llm}
log=${LLM_BOOTSTRAP_LOG:-/var/log/llm-jump-host-bootstrap.log}
retries=${LLM_RETRIES:-5}

exec > >(tee -a "$log") 2>&1
echo "jump-host bootstrap: kubectl v$k8s_minor, aliyun CLI $cli_version"

retry() {
  local i
  for ((i = 1; i <= retries; i++)); do
    "$@" && return 0
    echo "attempt $i/$retries failed: $*" >&2
    sleep $((i * 10))
  done
  return 1
}

if ! command -v kubectl >/dev/null 2>&1; then
  cat > /etc/yum.repos.d/kubernetes.repo <<REPO
[kubernetes]
name=Kubernetes v$k8s_minor (Alibaba Cloud mirror)
baseurl=$mirror/v$k8s_minor/rpm/
enabled=1
gpgcheck=1
gpgkey=$mirror/v$k8s_minor/rpm/repodata/repomd.xml.key
REPO
  retry dnf install -y kubectl
fi

if ! command -v aliyun >/dev/null 2>&1; then
  tmp=$(mktemp -d)
  retry curl -fsSL --max-time 300 -o "$tmp/cli.tgz" "$cli_url"
  tar -xzf "$tmp/cli.tgz" -C "$tmp"
  install -m 0755 "$tmp/aliyun" "$bin_dir/aliyun"
  rm -rf "$tmp"
fi

mkdir -p "$etc_dir"
cat > "$bin_dir/llm-kubeconfig" <<'HELPER'
#!/bin/bash
# Writes ~/.kube/config for this stack's cluster (private endpoint), with the instance's RAM
# role. The Cloud Assistant manifests run writes the cluster ID to /etc/llm/jump-host.env.
# Rights in the cluster: namespace llm-model only (cs.KubernetesPermission).
set -euo pipefail
# shellcheck source=/dev/null
source "${LLM_ETC_DIR:-/etc/llm}/jump-host.env"
: "${LLM_CLUSTER_ID:?not set: has the manifests command run?}" "${LLM_REGION:?}" "${LLM_ROLE_NAME:?}"
minutes=${1:-720}
aliyun configure set --profile llm --mode EcsRamRole --ram-role-name "$LLM_ROLE_NAME" --region "$LLM_REGION" >/dev/null
umask 077
mkdir -p "$HOME/.kube"
aliyun --profile llm cs GET "/k8s/$LLM_CLUSTER_ID/user_config" \
  --PrivateIpAddress true --TemporaryDurationMinutes "$minutes" \
  | python3 -c 'import json, sys; sys.stdout.write(json.load(sys.stdin)["config"])' > "$HOME/.kube/config.new"
mv "$HOME/.kube/config.new" "$HOME/.kube/config"
echo "wrote $HOME/.kube/config (valid $minutes minutes; namespace $LLM_NAMESPACE)"
HELPER
chmod 0755 "$bin_dir/llm-kubeconfig"
echo "jump-host bootstrap: done"
