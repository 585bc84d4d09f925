"""The pure parts of the Kubernetes adapter: API objects to Observed records
(syncer/observed.py), request bodies (SecretValue encoding) and the mapping of
an error response to a typed error (syncer/kube.py)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from syncer import errors, observed
from syncer.model import ANN_HASH, MANAGED_BY_LABEL
from syncer.scrub import digest
from syncer.secretvalue import SecretValue, encode, redact
from tests import seeds


def test_observed_secret_keeps_digests_and_our_metadata_only() -> None:
    value = seeds.fake("observed")
    item = {"metadata": {"namespace": "a", "name": "s", "uid": "u", "resourceVersion": "7",
                         "labels": {MANAGED_BY_LABEL: "kserve-vault-sync", "team": "x"},
                         "annotations": {ANN_HASH: "h", "serving.kserve.io/s3-region": "r",
                                         "kubectl.kubernetes.io/last-applied": "{...}"}},
            "type": "Opaque", "data": {"K": base64.b64encode(value.encode()).decode()}}
    obs = observed.observed_secret(item)
    assert obs.key_digests == {"K": digest(value.encode())}
    assert obs.labels == {MANAGED_BY_LABEL: "kserve-vault-sync"}
    assert set(obs.annotations) == {ANN_HASH, "serving.kserve.io/s3-region"}
    assert obs.managed and obs.owned_whole and obs.resource_version == "7"
    assert value not in repr(obs)


def test_observed_service_account() -> None:
    item = {"metadata": {"namespace": "a", "name": "sa",
                         "annotations": {"kserve-vault-sync/managed-secrets": "s1,s2"}},
            "secrets": [{"name": "s1"}, {"name": "theirs"}]}
    sa = observed.observed_service_account(item)
    assert sa.secrets == ("s1", "theirs") and sa.managed_secrets == {"s1", "s2"}
    assert not sa.managed  # no label: not ours


@pytest.mark.parametrize(("item", "terminating"), [
    ({"metadata": {"name": "n"}}, False),
    ({"metadata": {"name": "n"}, "status": {"phase": "Terminating"}}, True),
    ({"metadata": {"name": "n", "deletionTimestamp": "2026-01-01T00:00:00Z"}}, True)])
def test_namespace(item: dict[str, Any], terminating: bool) -> None:
    assert observed.namespace(item).terminating is terminating


def test_encode_reveals_only_for_the_request_and_redact_never() -> None:
    value = SecretValue(seeds.fake("encode"))
    body = {"data": {"K": value}, "list": [value], "plain": "x"}
    assert encode(body)["data"]["K"] == base64.b64encode(value.reveal().encode()).decode()
    assert encode(body)["list"] == [encode(body)["data"]["K"]] and encode(body)["plain"] == "x"
    shown = json.dumps(redact(body))
    assert value.reveal() not in shown and repr(value) in shown


STATUSES: list[tuple[int, type[errors.KubeError], bool]] = [
    (403, errors.KubeForbidden, False), (404, errors.KubeNotFound, False),
    (409, errors.KubeConflict, False), (410, errors.KubeGone, False),
    (422, errors.KubeInvalid, False), (400, errors.KubeError, False),
    (429, errors.KubeError, True), (500, errors.KubeError, True),
    (503, errors.KubeError, True)]


@pytest.mark.parametrize(("status", "cls", "transient"), STATUSES)
def test_error_response_becomes_a_typed_error(status: int, cls: type[errors.KubeError],
                                              transient: bool) -> None:
    value = SecretValue(seeds.fake("kube-error"))
    raw = json.dumps({"reason": "Why", "message": f"echo {value.reveal()}"}).encode()
    exc = errors.kube_error_from_response(status, raw, "2.5", "patch Secret a/s")
    assert type(exc) is cls and exc.status == status and exc.transient is transient
    assert exc.retry_after == 2.5 and exc.reason == "Why"
    assert str(exc).startswith(f"patch Secret a/s: HTTP {status} Why (")
    assert value.reveal() not in str(exc)


def test_error_body_that_is_not_json() -> None:
    exc = errors.kube_error_from_response(502, b"<html>bad gateway</html>", "soon", "list")
    assert "bad gateway" in str(exc) and exc.retry_after is None and exc.transient
