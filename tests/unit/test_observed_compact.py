"""Observed records of thousands of objects share what repeats (syncer/observed.py):
the watch cache holds one per object, so a string or a labels dict per object is
megabytes at 10,000 targets (bench/memory.py measures it)."""

from __future__ import annotations

import base64
import json

from syncer import observed
from syncer.model import ANN_HASH, ANN_SOURCE, MANAGED_BY_LABEL

TEXT = json.dumps({
    "metadata": {"namespace": "team-a", "name": "s3-secret", "uid": "u-1",
                 "resourceVersion": "7", "labels": {MANAGED_BY_LABEL: "kserve-vault-sync"},
                 "annotations": {ANN_HASH: "0123456789abcdef",
                                 ANN_SOURCE: "secret/models/s3@4",
                                 "serving.kserve.io/s3-endpoint": "minio.minio.svc:9000"}},
    "type": "Opaque", "data": {"AWS_ACCESS_KEY_ID": base64.b64encode(b"not-a-key").decode()}})


def test_records_decoded_apart_share_their_repeated_strings_and_labels() -> None:
    # Two decodes of the same JSON: equal strings, distinct objects - as two list items.
    first, second = (observed.observed_secret(json.loads(TEXT)) for _ in range(2))
    assert first == second
    assert first.labels is second.labels
    for key in first.annotations:
        assert first.annotations[key] is second.annotations[key], key
    assert first.key_digests["AWS_ACCESS_KEY_ID"] is second.key_digests["AWS_ACCESS_KEY_ID"]
    assert first.namespace is second.namespace and first.name is second.name


def test_service_accounts_share_names_and_labels() -> None:
    text = json.dumps({"metadata": {"namespace": "team-a", "name": "sa",
                                    "labels": {MANAGED_BY_LABEL: "kserve-vault-sync"}},
                       "secrets": [{"name": "s3-secret"}]})
    first, second = (observed.observed_service_account(json.loads(text)) for _ in range(2))
    assert first.labels is second.labels and first.secrets[0] is second.secrets[0]
    assert first.namespace is second.namespace
