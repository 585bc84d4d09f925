"""Which workloads consume a rotated Secret (syncer/consumers.py) and the rollout
phase that restarts them once, within a rate limit (syncer/rollout.py)."""

from __future__ import annotations

from typing import Any

import pytest

from syncer import consumers, rollout
from syncer.errors import KubeError

ROTATED = consumers.Rotated("ns", "s3-secret", "hash-1", frozenset({"s3-sa"}))
SPEC = consumers.Rotated("ns", "storage-config", "hash-2", frozenset(), storage_spec=True)


def deployment(pod: dict[str, Any], annotations: dict[str, str] | None = None,
               name: str = "d") -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"template": {
        "metadata": {"annotations": annotations or {}}, "spec": pod}}}


def isvc(predictor: dict[str, Any], annotations: dict[str, str] | None = None,
         name: str = "i") -> dict[str, Any]:
    return {"metadata": {"name": name, "annotations": annotations or {}},
            "spec": {"predictor": predictor}}


USES: list[tuple[str, dict[str, Any], consumers.Rotated, bool]] = [
    ("service account", {"serviceAccountName": "s3-sa"}, ROTATED, True),
    ("other service account", {"serviceAccountName": "x"}, ROTATED, False),
    ("secret volume", {"volumes": [{"secret": {"secretName": "s3-secret"}}]}, ROTATED, True),
    ("envFrom", {"containers": [{"envFrom": [{"secretRef": {"name": "s3-secret"}}]}]},
     ROTATED, True),
    ("secretKeyRef in an init container", {"initContainers": [{"env": [{"valueFrom": {
        "secretKeyRef": {"name": "s3-secret", "key": "k"}}}]}]}, ROTATED, True),
    ("another secret", {"containers": [{"envFrom": [{"secretRef": {"name": "x"}}]}]},
     ROTATED, False),
    ("nothing", {}, ROTATED, False),
]


@pytest.mark.parametrize(("case", "pod", "rotated", "uses"), USES, ids=[u[0] for u in USES])
def test_deployment_uses(case: str, pod: dict[str, Any], rotated: consumers.Rotated,
                         uses: bool) -> None:
    assert consumers.deployment_uses(deployment(pod), rotated) is uses
    assert consumers.isvc_uses(isvc(pod), rotated) is uses


ISVC: list[tuple[str, dict[str, Any], dict[str, str], consumers.Rotated, bool]] = [
    ("storage spec predictor", {"model": {"storage": {"key": "m"}}}, {}, SPEC, True),
    ("storage spec, old form", {"storage": {"key": "m"}}, {}, SPEC, True),
    ("storageUri only", {"model": {"storageUri": "s3://b/m"}}, {}, SPEC, False),
    ("storageSecretName annotation", {}, {"serving.kserve.io/storageSecretName": "s3-secret"},
     ROTATED, True),
]


@pytest.mark.parametrize(("case", "predictor", "annotations", "rotated", "uses"), ISVC,
                         ids=[c[0] for c in ISVC])
def test_isvc_uses(case: str, predictor: dict[str, Any], annotations: dict[str, str],
                   rotated: consumers.Rotated, uses: bool) -> None:
    assert consumers.isvc_uses(isvc(predictor, annotations), rotated) is uses


def test_a_consumer_already_rolled_for_this_hash_is_skipped() -> None:
    rolled = deployment({"serviceAccountName": "s3-sa"},
                        {consumers.ANN_ROLLOUT_HASH: "hash-1"}, name="done")
    older = deployment({"serviceAccountName": "s3-sa"},
                       {consumers.ANN_ROLLOUT_HASH: "hash-0"}, name="older")
    got = consumers.consumers([rolled, older], "Deployment", ROTATED)
    assert [d["metadata"]["name"] for d in got] == ["older"]
    patch = consumers.deployment_patch(ROTATED, "now")
    after = deployment({"serviceAccountName": "s3-sa"},
                       patch["spec"]["template"]["metadata"]["annotations"])
    assert consumers.consumers([after], "Deployment", ROTATED) == []


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_slides_over_a_minute() -> None:
    clock = Clock()
    limiter = rollout.RateLimiter(2, clock)
    assert [limiter.allow() for _ in range(3)] == [True, True, False]
    clock.now = 59.9
    assert not limiter.allow()
    clock.now = 60.0
    assert limiter.allow()


class Workloads:
    """Deployments in one namespace; patches are recorded (and applied to the hash)."""

    def __init__(self, names: list[str], fail: set[str] | None = None) -> None:
        self.items = {n: deployment({"serviceAccountName": "s3-sa"}, name=n) for n in names}
        self.fail = fail or set()
        self.patched: list[str] = []

    def list_workloads(self, kind: str, namespace: str) -> list[dict[str, Any]]:
        return list(self.items.values()) if kind == "Deployment" else []

    def patch_workload(self, kind: str, namespace: str, name: str, body: dict[str, Any]
                       ) -> None:
        if name in self.fail:
            raise KubeError(f"roll {kind} {namespace}/{name}: HTTP 500", status=500)
        self.patched.append(name)
        self.items[name]["spec"]["template"]["metadata"] = body["spec"]["template"]["metadata"]


def test_roll_restarts_each_consumer_once_and_defers_past_the_limit() -> None:
    state = rollout.Rollouts(per_minute=2)
    state.pending[("ns", "s3-secret")] = ROTATED
    kube = Workloads(["a", "b", "c"])
    first = state.roll(kube, "t1")
    assert sorted((r.name, r.outcome) for r in first) == [
        ("a", "rolled"), ("b", "rolled"), ("c", "deferred")]
    assert ("ns", "s3-secret") in state.pending  # c still to do
    state.limiter = rollout.RateLimiter(10)
    second = state.roll(kube, "t2")
    assert [(r.name, r.outcome) for r in second] == [("c", "rolled")]
    assert kube.patched == ["a", "b", "c"] and not state.pending


def test_a_failed_restart_stays_pending() -> None:
    state = rollout.Rollouts(per_minute=10)
    state.pending[("ns", "s3-secret")] = ROTATED
    kube = Workloads(["a"], fail={"a"})
    [result] = state.roll(kube, "t")
    assert result.outcome == "error" and ("ns", "s3-secret") in state.pending
    kube.fail.clear()
    assert [r.outcome for r in state.roll(kube, "t")] == ["rolled"]
    assert not state.pending


def test_a_pod_without_a_service_account_runs_as_default() -> None:
    on_default = consumers.Rotated("ns", "s3-secret", "h", frozenset({"default"}))
    assert consumers.deployment_uses(deployment({}), on_default)
    assert consumers.isvc_uses(isvc({"model": {"storageUri": "s3://b/m"}}), on_default)
    assert not consumers.isvc_uses(isvc({"serviceAccountName": "other"}), on_default)


def test_a_deployment_kserve_owns_restarts_through_its_isvc_only() -> None:
    owned = deployment({"serviceAccountName": "s3-sa"})
    owned["metadata"]["ownerReferences"] = [{"kind": "InferenceService", "name": "m",
                                             "apiVersion": "serving.kserve.io/v1beta1"}]
    assert not consumers.deployment_uses(owned, ROTATED)
    assert consumers.deployment_uses(deployment({"serviceAccountName": "s3-sa"}), ROTATED)


def test_the_storage_secret_annotation_name_follows_kserve() -> None:
    renamed = consumers.Rotated("ns", "s3-secret", "h", frozenset(),
                                storage_annotation="example.com/storage-secret")
    assert consumers.isvc_uses(isvc({}, {"example.com/storage-secret": "s3-secret"}), renamed)
    assert not consumers.isvc_uses(isvc({}, {"serving.kserve.io/storageSecretName":
                                             "s3-secret"}), renamed)


def llmisvc(spec: dict[str, Any], annotations: dict[str, str] | None = None,
            name: str = "llm") -> dict[str, Any]:
    return {"metadata": {"name": name, "annotations": annotations or {}}, "spec": spec}


LLM_USES: list[tuple[str, dict[str, Any], dict[str, str], bool]] = [
    ("template service account", {"template": {"serviceAccountName": "s3-sa"}}, {}, True),
    ("no template: runs as default", {"model": {"uri": "s3://b/m"}}, {}, False),
    ("prefill template", {"template": {"serviceAccountName": "x"},
                          "prefill": {"template": {"serviceAccountName": "s3-sa"}}}, {}, True),
    ("worker secret volume", {"template": {"serviceAccountName": "x"}, "worker": {
        "volumes": [{"secret": {"secretName": "s3-secret"}}]}}, {}, True),
    ("storage secret annotation", {"template": {"serviceAccountName": "x"}},
     {"serving.kserve.io/storageSecretName": "s3-secret"},
     True),
    ("another account", {"template": {"serviceAccountName": "x"}}, {}, False),
]


@pytest.mark.parametrize(("case", "spec", "annotations", "uses"), LLM_USES,
                         ids=[u[0] for u in LLM_USES])
def test_llmisvc_uses(case: str, spec: dict[str, Any], annotations: dict[str, str],
                      uses: bool) -> None:
    assert consumers.llmisvc_uses(llmisvc(spec, annotations), ROTATED) is uses


def test_an_llmisvc_without_a_template_uses_the_default_account() -> None:
    on_default = consumers.Rotated("ns", "s3-secret", "h", frozenset({"default"}))
    assert consumers.llmisvc_uses(llmisvc({"model": {"uri": "s3://b/m"}}), on_default)


def test_an_llmisvc_restarts_through_spec_annotations_once_per_rotation() -> None:
    """KServe's llmisvc controller copies spec.annotations into the pod templates it
    makes; the Deployment it owns is not patched directly."""
    service = llmisvc({"template": {"serviceAccountName": "s3-sa"}})
    patch = consumers.llmisvc_patch(ROTATED, "t1")
    assert patch == {"spec": {"annotations": {consumers.ANN_RESTARTED_AT: "t1",
                                              consumers.ANN_ROLLOUT_HASH: "hash-1"}}}
    assert consumers.consumers([service], "LLMInferenceService", ROTATED) == [service]
    service["spec"]["annotations"] = patch["spec"]["annotations"]
    assert consumers.consumers([service], "LLMInferenceService", ROTATED) == []
    owned = deployment({"serviceAccountName": "s3-sa"})
    owned["metadata"]["ownerReferences"] = [{"kind": "LLMInferenceService", "name": "llm",
                                             "apiVersion": "serving.kserve.io/v1alpha2"}]
    assert not consumers.deployment_uses(owned, ROTATED)
    assert "LLMInferenceService" in rollout.PATCHES
