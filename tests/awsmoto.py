"""moto's IAM as the AWS account behind Vault's AWS secrets engine.

The server, its cached venv and its IAM enforcement are the e2e harness's
(``tests.e2e.consumer.MotoS3``); this subclass only changes who the first
user is: Vault's root credentials, allowed to manage IAM users and keys the way
the engine does (CreateUser, PutUserPolicy, CreateAccessKey, DeleteUser, ...).
Users the engine makes can read the model object only if their own policy says so.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from typing import Any

from tests.e2e.consumer import MotoS3, _hermetic_env

# Runs inside the moto venv: one JSON request on stdin, one JSON answer on stdout.
_IAM_SCRIPT = r"""
import json, sys
import boto3
req = json.load(sys.stdin)
iam = boto3.client("iam", endpoint_url=req["url"], region_name="us-east-1",
                   aws_access_key_id=req["auth"][0], aws_secret_access_key=req["auth"][1])
op, out = req["op"], {}
if op == "create_user":
    iam.create_user(UserName=req["user"])
    iam.put_user_policy(UserName=req["user"], PolicyName="read",
                        PolicyDocument=json.dumps(req["policy"]))
elif op == "users":
    out = {"users": sorted(u["UserName"] for u in iam.list_users()["Users"])}
elif op == "keys":
    meta = iam.list_access_keys(UserName=req["user"])["AccessKeyMetadata"]
    out = {"keys": sorted(k["AccessKeyId"] for k in meta)}
json.dump(out, sys.stdout)
"""

# What a role's user may do: read the model, nothing else.
READ_MODEL: Mapping[str, Any] = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}


class VaultMoto(MotoS3):
    """moto S3+IAM whose first user is the Vault AWS engine's root identity."""

    user = "vault-root"
    _POLICY: Mapping[str, Any] = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:*", "iam:*"], "Resource": "*"}]}

    def create_user(self, name: str, policy: Mapping[str, Any] = READ_MODEL) -> None:
        """An IAM user for a static role (Vault manages only its keys)."""
        self._iam("create_user", user=name, policy=policy)

    def users(self) -> list[str]:
        """IAM user names, as AWS lists them (no key material)."""
        return list(self._iam("users")["users"])

    def access_keys(self, user: str) -> list[str]:
        """The access key ids of one user."""
        return list(self._iam("keys", user=user)["keys"])

    def _iam(self, op: str, **fields: Any) -> dict[str, Any]:
        request = {"op": op, "url": self.url, "auth": self.initial_key, **fields}
        done = subprocess.run([str(self._python), "-c", _IAM_SCRIPT],
                              input=json.dumps(request).encode(), capture_output=True,
                              timeout=60, check=False, env=_hermetic_env(str(self._workdir)))
        if done.returncode != 0:
            raise RuntimeError(f"moto iam {op} failed: "
                               f"{done.stderr.decode(errors='replace')[-2000:]}")
        answer: dict[str, Any] = json.loads(done.stdout)
        return answer
