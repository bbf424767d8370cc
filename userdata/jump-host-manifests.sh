#!/bin/bash
# Jump host manifests (Cloud Assistant, keyed on the manifests' hash): unpack the stack's
# Kubernetes manifests into /root/llm-k8s-resource/ under the seed's file names, for the manual
# `kubectl apply` flow. The files are the ones Pulumi applies, built by the same functions; they
# hold no secret. Files this stack wrote before and no longer produces are removed; other files
# in the folder are left alone. Also records the cluster ID for `llm-kubeconfig`.
set -euo pipefail

archive=${LLM_MANIFESTS_TGZ_B64:?LLM_MANIFESTS_TGZ_B64 is required}
hash=${LLM_MANIFESTS_HASH:?LLM_MANIFESTS_HASH is required}
dir=${LLM_MANIFEST_DIR:?LLM_MANIFEST_DIR is required}
etc_dir=${LLM_ETC_DIR:?LLM_ETC_DIR is required}
: "${LLM_CLUSTER_ID:?}" "${LLM_REGION:?}" "${LLM_ROLE_NAME:?}" "${LLM_NAMESPACE:?}"

mkdir -p "$dir" "$etc_dir"
umask 022
cat > "$etc_dir/jump-host.env" <<ENV
LLM_CLUSTER_ID=$LLM_CLUSTER_ID
LLM_REGION=$LLM_REGION
LLM_ROLE_NAME=$LLM_ROLE_NAME
LLM_NAMESPACE=$LLM_NAMESPACE
ENV

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '%s' "$archive" | base64 -d | tar -xz -C "$tmp"
if [[ -f $dir/.managed-files ]]; then
  while IFS= read -r old; do
    [[ -n $old && ! -e $tmp/$old ]] && rm -f -- "${dir:?}/$old"
  done < "$dir/.managed-files"
fi
(cd "$tmp" && ls -1) > "$tmp/.managed-files"
for f in "$tmp"/* "$tmp/.managed-files"; do
  install -m 0644 "$f" "$dir/$(basename "$f")"
done
echo "$hash" > "$dir/.manifests-hash"
echo "manifests $hash written to $dir:"
ls -l "$dir"
