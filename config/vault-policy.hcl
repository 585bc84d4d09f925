# Vault / OpenBao policy for kserve-vault-sync: read the mapped paths, nothing else.
# One block per mapped path (or prefix) of config/example.yaml, KV v2 mounted at secret/.
#   bao policy write kserve-vault-sync config/vault-policy.hcl
# The syncer's token (kubernetes or approle role) gets only this policy.

# Values: read once per cycle per distinct path.
path "secret/data/kserve/team-a/s3" {
  capabilities = ["read"]
}
path "secret/data/kserve/shared/hf" {
  capabilities = ["read"]
}

# Version metadata only (no values): `kserve-vault-sync status`.
path "secret/metadata/kserve/team-a/s3" {
  capabilities = ["read"]
}
path "secret/metadata/kserve/shared/hf" {
  capabilities = ["read"]
}

# Renewing its own token; the default policy grants this too.
path "auth/token/renew-self" {
  capabilities = ["update"]
}
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
