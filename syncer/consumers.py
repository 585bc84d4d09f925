"""Which workloads consume a rotated credential, and the patch that restarts them. Pure.

KServe copies credentials into a pod only when it starts, so a predictor keeps
the old key until it restarts. With ``rollout: true`` on a target, after a
rotation changes a Secret's content, the Deployments, InferenceServices and
LLMInferenceServices in that namespace that use it - through the ServiceAccount that lists it, a
secretKeyRef/envFrom/volume, or (storage-config) the STORAGE_CONFIG env -
get a pod-template annotation bump, as ``kubectl rollout restart`` does.

Once per rotation: the bump records the Secret's content hash, and a consumer
already carrying that hash is skipped, so no loop is possible and a change of
our own metadata alone never rolls anything. :mod:`syncer.rollout` runs the
phase (rate limit, pending restarts) with the adapter.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

ANN_RESTARTED_AT = "kserve-vault-sync/restarted-at"
ANN_ROLLOUT_HASH = "kserve-vault-sync/rollout-hash"


@dataclass(frozen=True)
class Rotated:
    """A Secret whose content a cycle just changed, and who may consume it."""

    namespace: str
    secret: str
    content_hash: str
    service_accounts: frozenset[str]
    storage_spec: bool = False  # a storage-config Secret: `storage:` ISVCs use it
    # The InferenceService annotation naming a storage Secret (inferenceservice-config's
    # credentials.storageSecretNameAnnotation).
    storage_annotation: str = "serving.kserve.io/storageSecretName"


def _pod_uses(pod: dict[str, Any], rotated: Rotated) -> bool:
    # A pod that names no ServiceAccount runs as the namespace's "default".
    if (pod.get("serviceAccountName") or "default") in rotated.service_accounts:
        return True
    for volume in pod.get("volumes") or []:
        if (volume.get("secret") or {}).get("secretName") == rotated.secret:
            return True
    for container in (pod.get("containers") or []) + (pod.get("initContainers") or []):
        for env_from in container.get("envFrom") or []:
            if (env_from.get("secretRef") or {}).get("name") == rotated.secret:
                return True
        for env in container.get("env") or []:
            ref = (env.get("valueFrom") or {}).get("secretKeyRef") or {}
            if ref.get("name") == rotated.secret:
                return True
    return False


KSERVE_OWNERS = ("InferenceService", "LLMInferenceService")


def owned_by_kserve(obj: dict[str, Any]) -> bool:
    """A Deployment KServe's controller made for an InferenceService or an
    LLMInferenceService: its template is KServe's to set (a restart annotation there
    is reverted), so it restarts through its owner, once."""
    return any(ref.get("kind") in KSERVE_OWNERS
               and str(ref.get("apiVersion", "")).startswith("serving.kserve.io/")
               for ref in (obj.get("metadata") or {}).get("ownerReferences") or [])


def deployment_uses(deployment: dict[str, Any], rotated: Rotated) -> bool:
    if owned_by_kserve(deployment):
        return False
    pod = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    return _pod_uses(pod, rotated)


def isvc_uses(isvc: dict[str, Any], rotated: Rotated) -> bool:
    """An InferenceService's predictor (and transformer/explainer) components."""
    meta_ann = (isvc.get("metadata") or {}).get("annotations") or {}
    if meta_ann.get(rotated.storage_annotation) == rotated.secret:
        return True
    spec = isvc.get("spec") or {}
    predictor = spec.get("predictor") or {}
    if rotated.storage_spec and ((predictor.get("model") or {}).get("storage")
                                 or predictor.get("storage")):
        return True
    return any(_pod_uses(spec[part], rotated)
               for part in ("predictor", "transformer", "explainer") if spec.get(part))


def llmisvc_uses(llmisvc: dict[str, Any], rotated: Rotated) -> bool:
    """An LLMInferenceService (serving.kserve.io/v1alpha2): KServe's llmisvc controller
    builds its storage initializer from the ServiceAccount of ``spec.template``
    (``default`` when it names none) or the storageSecretName annotation
    (pkg/controller/v1alpha2/llmisvc/workload_storage.go), for the main workload,
    its ``worker`` and its ``prefill`` parts alike."""
    meta_ann = (llmisvc.get("metadata") or {}).get("annotations") or {}
    if meta_ann.get(rotated.storage_annotation) == rotated.secret:
        return True
    spec = llmisvc.get("spec") or {}
    prefill = spec.get("prefill") or {}
    pods = [spec.get("template") or {}, spec.get("worker"), prefill.get("template"),
            prefill.get("worker")]
    return any(_pod_uses(pod, rotated) for pod in pods if pod is not None)


def deployment_patch(rotated: Rotated, now: str) -> dict[str, Any]:
    return {"spec": {"template": {"metadata": {"annotations": {
        ANN_RESTARTED_AT: now, ANN_ROLLOUT_HASH: rotated.content_hash}}}}}


def isvc_patch(rotated: Rotated, now: str) -> dict[str, Any]:
    # ComponentExtensionSpec.annotations: "added to the component pod" by KServe.
    return {"spec": {"predictor": {"annotations": {
        ANN_RESTARTED_AT: now, ANN_ROLLOUT_HASH: rotated.content_hash}}}}


def llmisvc_patch(rotated: Rotated, now: str) -> dict[str, Any]:
    # WorkloadSpec.annotations: KServe copies them into every pod template it makes
    # for the service (main, prefill, and the LeaderWorkerSets of multi-node).
    return {"spec": {"annotations": {ANN_RESTARTED_AT: now,
                                     ANN_ROLLOUT_HASH: rotated.content_hash}}}


def already_rolled(obj: dict[str, Any], kind: str, rotated: Rotated) -> bool:
    spec = obj.get("spec") or {}
    if kind == "Deployment":
        ann = ((spec.get("template") or {}).get("metadata") or {}).get("annotations") or {}
    elif kind == "LLMInferenceService":
        ann = spec.get("annotations") or {}
    else:
        ann = (spec.get("predictor") or {}).get("annotations") or {}
    return ann.get(ANN_ROLLOUT_HASH) == rotated.content_hash


USES = {"Deployment": deployment_uses, "InferenceService": isvc_uses,
        "LLMInferenceService": llmisvc_uses}


def consumers(items: Iterable[dict[str, Any]], kind: str, rotated: Rotated
              ) -> list[dict[str, Any]]:
    uses = USES[kind]
    return [o for o in items if uses(o, rotated) and not already_rolled(o, kind, rotated)]
