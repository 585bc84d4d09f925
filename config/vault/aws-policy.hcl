# Vault / OpenBao policy for kserve-vault-sync reading keys from the AWS secrets
# engine mounted at aws/ (the mapping in config/vault/aws-mapping.yaml).
#   vault policy write kserve-vault-sync-aws config/vault/aws-policy.hcl
# Give it to the syncer's role beside config/vault-policy.hcl (KV paths), or alone.

# Dynamic iam_user credentials: each read makes an IAM user and key under a lease.
path "aws/creds/model-reader" {
  capabilities = ["read"]
}

# A static role's current key (Vault rotates it every rotation_period).
path "aws/static-creds/models" {
  capabilities = ["read"]
}

# The syncer's own leases, by ID in the URL so the grant names the role:
# renew ahead of the TTL, and revoke the old key once the new one is everywhere.
path "sys/leases/renew/aws/creds/model-reader/*" {
  capabilities = ["update"]
}
path "sys/leases/revoke/aws/creds/model-reader/*" {
  capabilities = ["update"]
}

# Look up a lease found in the lease store after a restart (reveals no secret;
# the default policy grants it too).
path "sys/leases/lookup" {
  capabilities = ["update"]
}

# Renewing its own token; the default policy grants this too.
path "auth/token/renew-self" {
  capabilities = ["update"]
}
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
