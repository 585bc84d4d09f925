#!/usr/bin/env bash
# The reference "script baseline": what users write today instead of a syncer.
# For each target (a TSV line: namespace, secret, serviceaccount, vault path)
# read the path with `bao kv get -format=json` and `kubectl apply -f -` the
# Secret and the ServiceAccount that lists it (one apply, a v1 List of both).
# Needs BAO_ADDR/VAULT_ADDR, BAO_TOKEN/VAULT_TOKEN and KUBECONFIG in the environment.
set -euo pipefail
targets="$1"
field() {  # field <json> <key>: jq if present, else python3
  if command -v jq >/dev/null; then jq -r ".data.data.$2" <<<"$1"
  else python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["data"][sys.argv[1]])' "$2" <<<"$1"
  fi
}
while IFS=$'\t' read -r ns secret sa path; do
  json=$(bao kv get -format=json -mount=secret "$path")
  ak=$(field "$json" access_key)
  sk=$(field "$json" secret_key)
  kubectl apply -f - >/dev/null <<EOF_MANIFEST
{"apiVersion": "v1", "kind": "List", "items": [
 {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
  "metadata": {"name": "$secret", "namespace": "$ns",
   "labels": {"app.kubernetes.io/managed-by": "bench-script"},
   "annotations": {"serving.kserve.io/s3-endpoint": "minio.minio.svc:9000",
    "serving.kserve.io/s3-usehttps": "0", "serving.kserve.io/s3-region": "us-east-1"}},
  "stringData": {"AWS_ACCESS_KEY_ID": "$ak", "AWS_SECRET_ACCESS_KEY": "$sk"}},
 {"apiVersion": "v1", "kind": "ServiceAccount",
  "metadata": {"name": "$sa", "namespace": "$ns",
   "labels": {"app.kubernetes.io/managed-by": "bench-script"}},
  "secrets": [{"name": "$secret"}]}]}
EOF_MANIFEST
done < "$targets"
