"""Safe under operator mistakes, races and hostile input, on the real servers: a
typo with prune on removes nothing, a large prune waits for confirmation, prune
unlists before it deletes, namespace-scoped prune reaches dropped namespaces, a
server that quotes a value back leaks nothing, a known conflict costs no write."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hvac
import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from devenv import servers
from syncer import prune
from tests import seeds
from tests.entries import hf_entry, put_hf, put_s3, s3_entry
from tests.helpers import (
    AuditLog,
    WriteConfig,
    install_namespaced_rbac,
    sa_kubeconfig,
    secret_data,
)
from tests.integration.daemon_helpers import metric, wait_for
from tests.kubeobjects import labels_of, listed, name_of

pytestmark = pytest.mark.integration
Cli = Callable[..., tuple[int, str]]


def names(core: k8s.CoreV1Api, namespace: str) -> set[str]:
    return {name_of(s) for s in core.list_namespaced_secret(namespace).items}


def make_namespaces(core: k8s.CoreV1Api, base: str, count: int,
                    labels: dict[str, str] | None = None) -> list[str]:
    out = [f"{base}-{i}" for i in range(count)]
    for ns in out:
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=ns,
                                                                         labels=labels)))
    return out


def test_selector_typo_with_prune_removes_nothing(core: k8s.CoreV1Api, bao: hvac.Client,
                                                  cli: Cli, write_config: WriteConfig,
                                                  vault_prefix: str, namespace: str,
                                                  audit: AuditLog) -> None:
    label = f"kvs-t-{secrets.token_hex(3)}"
    spaces = make_namespaces(core, namespace, 2, {label: "true"})
    put_s3(bao, f"{vault_prefix}/s3")
    entry = s3_entry("s3", f"{vault_prefix}/s3", [])
    entry["targets"] = [{"namespaceSelector": {"matchLabels": {label: "true"}},
                         "secret": "s3-secret", "serviceAccount": "s3-sa"}]
    assert cli("once", "-c", str(write_config([entry], sync={"prune": True})))[0] == 0
    assert all("s3-secret" in names(core, ns) for ns in spaces)
    entry["targets"][0]["namespaceSelector"] = {"matchLabels": {label[:-1]: "true"}}  # typo
    audit.mark()
    code, out = cli("once", "-c", str(write_config([entry], sync={"prune": True})))
    assert code == 1 and "matches no namespace" in out and "prune is held" in out
    assert all("s3-secret" in names(core, ns) for ns in spaces)
    assert audit.writes(namespaces=set(spaces)) == []


def test_a_large_prune_waits_for_confirmation(core: k8s.CoreV1Api, bao: hvac.Client, cli: Cli,
                                              write_config: WriteConfig, vault_prefix: str,
                                              namespace: str) -> None:
    spaces = make_namespaces(core, namespace, 10)
    put_s3(bao, f"{vault_prefix}/s3")
    full = write_config([s3_entry("s3", f"{vault_prefix}/s3", spaces)], sync={"prune": True})
    assert cli("once", "-c", str(full))[0] == 0
    shrunk = write_config([s3_entry("s3", f"{vault_prefix}/s3", spaces[:1])],
                          sync={"prune": True})
    code, out = cli("once", "-c", str(shrunk))
    assert code == 1 and "prune refused: prune would remove 18 of the 20 objects" in out
    assert all("s3-secret" in names(core, ns) for ns in spaces)
    code, out = cli("once", "-c", str(shrunk), "--prune-confirm")
    assert code == 0, out
    assert "s3-secret" in names(core, spaces[0])
    assert not any("s3-secret" in names(core, ns) for ns in spaces[1:])


def _seed_two_entries(core: k8s.CoreV1Api, bao: hvac.Client, cli: Cli, write_config: WriteConfig,
                      vault_prefix: str, namespace: str) -> Path:
    """s3 and hf synced with prune on; ``s3-sa`` also lists a Secret of the user's, so
    our prune has to patch it (remove our entry) rather than delete it."""
    core.create_namespaced_service_account(namespace, k8s.V1ServiceAccount(
        metadata=k8s.V1ObjectMeta(name="s3-sa"), secrets=[k8s.V1ObjectReference(
            name="theirs")]))
    put_s3(bao, f"{vault_prefix}/s3")
    put_hf(bao, f"{vault_prefix}/hf")
    both = write_config([s3_entry("s3", f"{vault_prefix}/s3", [namespace]),
                         hf_entry("hf", f"{vault_prefix}/hf", [namespace])],
                        sync={"prune": True})
    assert cli("once", "-c", str(both))[0] == 0
    return write_config([hf_entry("hf", f"{vault_prefix}/hf", [namespace])],
                        sync={"prune": True})


def _stamp(text: str) -> float:
    head, _, frac = text.rstrip("Z").partition(".")
    return time.mktime(time.strptime(head, "%Y-%m-%dT%H:%M:%S")) + float(f"0.{frac or 0}")


def test_prune_unlists_before_it_deletes(core: k8s.CoreV1Api, bao: hvac.Client, cli: Cli,
                                         write_config: WriteConfig, vault_prefix: str,
                                         namespace: str, audit: AuditLog) -> None:
    """From the API server's audit log: our entry left s3-sa (request complete)
    before the delete of s3-secret arrived."""
    only_hf = _seed_two_entries(core, bao, cli, write_config, vault_prefix, namespace)
    audit.mark()
    assert cli("once", "-c", str(only_hf))[0] == 0
    events = audit.events(namespaces={namespace})

    def when(resource: str, name: str, verb: str, stamp: str) -> float:
        [event] = [e for e in events if e["objectRef"].get("resource") == resource
                   and e["objectRef"].get("name") == name and e["verb"] == verb
                   and e["stage"] == "ResponseComplete"]
        return _stamp(event[stamp])

    unlisted = when("serviceaccounts", "s3-sa", "patch", "stageTimestamp")
    deleted = when("secrets", "s3-secret", "delete", "requestReceivedTimestamp")
    # KServe's webhook reads from informer caches: the delete waits out a grace.
    assert deleted - unlisted >= prune.UNLIST_GRACE - 0.1, (unlisted, deleted)
    sa = core.read_namespaced_service_account("s3-sa", namespace)
    assert listed(sa) == ["theirs"]
    assert "s3-secret" not in names(core, namespace)


def _deny_serviceaccount_writes(kube_api: k8s.ApiClient, label: str) -> Callable[[], None]:
    """A ValidatingAdmissionPolicy refusing updates and deletes of ServiceAccounts in
    namespaces labelled ``label``; returns the clean-up."""
    api = k8s.AdmissionregistrationV1Api(kube_api)
    selector = {"matchLabels": {label: "true"}}
    # A dict body: the client builds the model from it.
    api.create_validating_admission_policy({  # type: ignore[arg-type]
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": label}, "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"namespaceSelector": selector, "resourceRules": [{
                "apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE", "DELETE"],
                "resources": ["serviceaccounts"]}]},
            "validations": [{"expression": "false", "message": "denied by the test policy"}]}})
    # A dict body: the client builds the model from it.
    api.create_validating_admission_policy_binding({  # type: ignore[arg-type]
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": label},
        "spec": {"policyName": label, "validationActions": ["Deny"],
                 "matchResources": {"namespaceSelector": selector}}})

    def remove() -> None:
        api.delete_validating_admission_policy_binding(label)
        api.delete_validating_admission_policy(label)
    return remove


def _until(check: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_a_failed_unlisting_keeps_the_secret(core: k8s.CoreV1Api, kube_api: k8s.ApiClient,
                                             bao: hvac.Client, cli: Cli,
                                             write_config: WriteConfig, vault_prefix: str,
                                             namespace: str) -> None:
    """While s3-sa cannot be changed, s3-secret (which it lists) is not deleted."""
    only_hf = _seed_two_entries(core, bao, cli, write_config, vault_prefix, namespace)
    label = f"kvs-deny-{secrets.token_hex(3)}"
    remove = _deny_serviceaccount_writes(kube_api, label)
    try:
        core.patch_namespace(namespace, {"metadata": {"labels": {label: "true"}}})
        core.create_namespaced_service_account(namespace, k8s.V1ServiceAccount(
            metadata=k8s.V1ObjectMeta(name="probe")))

        def denied() -> bool:
            try:
                core.patch_namespaced_service_account("probe", namespace,
                                                      {"metadata": {"labels": {"p": "1"}}})
            except ApiException as exc:
                return exc.status in (403, 422)
            return False

        _until(denied, "the admission policy to take effect")
        code, out = cli("once", "-c", str(only_hf))
        assert code == 1 and "denied by the test policy" in out
        assert f"not removed while ServiceAccount {namespace}/s3-sa lists it" in out
        assert "s3-secret" in names(core, namespace)
        sa = core.read_namespaced_service_account("s3-sa", namespace)
        assert set(listed(sa)) == {"theirs", "s3-secret"}
    finally:
        core.patch_namespace(namespace, {"metadata": {"labels": {label: None}}})
        remove()
    _until(lambda: not denied(), "the admission policy to go")
    assert cli("once", "-c", str(only_hf))[0] == 0
    assert "s3-secret" not in names(core, namespace)


def test_namespace_scoped_prune_reaches_a_dropped_namespace(
        core: k8s.CoreV1Api, bao: hvac.Client, devenv: servers.Env, vault_prefix: str,
        namespace: str, tmp_path: Path, write_config: WriteConfig, cli: Cli) -> None:
    a, b = make_namespaces(core, namespace, 2)
    home = install_namespaced_rbac(devenv, [a, b])
    kubeconfig = sa_kubeconfig(core, devenv, home, "kserve-vault-sync", tmp_path / "kc")
    put_s3(bao, f"{vault_prefix}/s3")
    # The default instance: the shipped RBAC names its state ConfigMap.
    sync = {"namespaceScoped": True, "prune": True, "pruneMaxFraction": "100%",
            "instance": "default"}

    def once(spaces: list[str]) -> tuple[int, str]:
        config = write_config([s3_entry("s3", f"{vault_prefix}/s3", spaces)], sync=sync)
        return cli("once", "-c", str(config), "--kubeconfig", str(kubeconfig),
                   "--state-namespace", home)

    assert once([a, b])[0] == 0
    state = core.read_namespaced_config_map("kserve-vault-sync-state", home)
    assert state.data == {"namespaces": ",".join(sorted([a, b]))}
    code, out = once([a])
    assert code == 0, out
    assert "s3-secret" not in names(core, b) and "s3-secret" in names(core, a)
    assert core.read_namespaced_config_map("kserve-vault-sync-state", home).data == {
        "namespaces": a}
    # Revoked: the RoleBinding in b goes while our Secret is there, then b is dropped.
    assert once([a, b])[0] == 0
    k8s.RbacAuthorizationV1Api(core.api_client).delete_namespaced_role_binding(
        "kserve-vault-sync", b)
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
              "spec": {"user": f"system:serviceaccount:{home}:kserve-vault-sync",
                       "resourceAttributes": {"verb": "list", "resource": "secrets",
                                              "namespace": b}}}

    def revoked() -> bool:
        status = k8s.AuthorizationV1Api(core.api_client).create_subject_access_review(
            # A dict body: the client builds the model from it.
            review).status  # type: ignore[arg-type]
        assert status is not None
        return not status.allowed

    _until(revoked, "the RoleBinding's removal to take effect")
    code, out = once([a])
    assert code == 1
    assert f"namespace '{b}' was dropped from the config, but what we wrote there" in out
    assert "s3-secret" in names(core, b)
    state = core.read_namespaced_config_map("kserve-vault-sync-state", home)
    assert state.data is not None
    assert b in state.data["namespaces"]


def test_a_server_that_quotes_the_value_back_leaks_nothing(
        core: k8s.CoreV1Api, kube_api: k8s.ApiClient, bao: hvac.Client, cli: Cli,
        write_config: WriteConfig, vault_prefix: str, namespace: str) -> None:
    """A ValidatingAdmissionPolicy's message quotes the GCS key file (multi-line) we
    send; the refusal reaches our output with the value scrubbed, however the API
    server re-encoded it."""
    # The policy makes the API server quote these: its audit log holds them by design.
    lines = [seeds.register(f"vap-key-line-{i}", secrets.token_urlsafe(24),
                            echoed_by_server=True) for i in range(2)]
    key = json.dumps({"type": "service_account", "private_key":
                      "-----BEGIN PRIVATE KEY-----\n" + "\n".join(lines)
                      + "\n-----END PRIVATE KEY-----\n",
                      "client_email": "sync@example.iam.gserviceaccount.com"}, indent=2)
    seeds.register("vap-key-file", key, echoed_by_server=True)
    bao.secrets.kv.v2.create_or_update_secret(f"{vault_prefix}/gcs", secret={"json": key})
    label = f"kvs-echo-{secrets.token_hex(3)}"
    api = k8s.AdmissionregistrationV1Api(kube_api)
    selector = {"matchLabels": {label: "true"}}
    # A dict body: the client builds the model from it.
    api.create_validating_admission_policy({  # type: ignore[arg-type]
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": label}, "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"namespaceSelector": selector, "resourceRules": [{
                "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                "resources": ["secrets"]}]},
            "validations": [{
                "expression": "!has(object.data) || "
                              "!('gcloud-application-credentials.json' in object.data)",
                "messageExpression": "'refused, you sent: ' + string(object.data["
                                     "'gcloud-application-credentials.json'])"}]}})
    # A dict body: the client builds the model from it.
    api.create_validating_admission_policy_binding({  # type: ignore[arg-type]
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": label},
        "spec": {"policyName": label, "validationActions": ["Deny"],
                 "matchResources": {"namespaceSelector": selector}}})
    try:
        core.patch_namespace(namespace, {"metadata": {"labels": {label: "true"}}})

        def refused() -> bool:  # the policy takes a moment to load
            try:
                core.create_namespaced_secret(namespace, k8s.V1Secret(
                    metadata=k8s.V1ObjectMeta(generate_name="probe-"),
                    string_data={"gcloud-application-credentials.json": "{}"}))
            except ApiException as exc:
                return exc.status in (403, 422)
            return False

        _until(refused, "the admission policy to take effect")
        config = write_config([{"name": "gcs", "type": "gcs", "vault": {
            "path": f"{vault_prefix}/gcs", "keys": {"credentials": "json"}},
            "targets": [{"namespaces": [namespace], "secret": "gcs-secret"}]}])
        code, out = cli("once", "-c", str(config))  # the fixture fails on any leak
        assert code == 1 and "refused, you sent: <redacted sha256:" in out
    finally:
        api.delete_validating_admission_policy_binding(label)
        api.delete_validating_admission_policy(label)


def test_a_known_conflict_costs_no_write(core: k8s.CoreV1Api, bao: hvac.Client,
                                        write_config: WriteConfig, vault_prefix: str,
                                        namespace: str, audit: AuditLog,
                                        daemons: Callable[..., Any]) -> None:
    """A hand-made Secret blocks a target: the daemon tries one create, learns, and
    from then on re-reads it each cycle without a failing write."""
    core.create_namespaced_secret(namespace, k8s.V1Secret(
        metadata=k8s.V1ObjectMeta(name="s3-secret"), string_data={"mine": "x"}))
    put_s3(bao, f"{vault_prefix}/s3")
    config = write_config([s3_entry("s3", f"{vault_prefix}/s3", [namespace])],
                          sync={"interval": "1s"})
    audit.mark()
    daemon = daemons(config)
    wait_for(lambda: (metric(daemon.scrape(), "kserve_vault_sync_sync_runs_total",
                             'result="partial"') or 0) >= 5, what="five cycles")
    creates = [e for e in audit.events(namespaces={namespace})
               if e["verb"] == "create" and e["objectRef"]["resource"] == "secrets"
               and e["stage"] == "ResponseComplete"
               and e.get("userAgent", "").startswith("kserve-vault-sync")]
    assert len(creates) == 1, [e["responseStatus"] for e in creates]
    assert secret_data(core, namespace, "s3-secret") == {"mine": "x"}


def test_two_installations_leave_each_other_alone(core: k8s.CoreV1Api, bao: hvac.Client,
                                                  cli: Cli, write_config: WriteConfig,
                                                  vault_prefix: str, namespace: str) -> None:
    """Team A's syncer owns s3-secret; team B's (another sync.instance) neither
    overwrites it nor, with prune on and nothing configured there, removes it."""
    key_a, _ = put_s3(bao, f"{vault_prefix}/a")
    put_s3(bao, f"{vault_prefix}/b")
    team_a = write_config([s3_entry("s3", f"{vault_prefix}/a", [namespace])],
                          sync={"instance": "team-a"})
    assert cli("once", "-c", str(team_a))[0] == 0
    team_b = write_config([s3_entry("s3", f"{vault_prefix}/b", [namespace])],
                          sync={"instance": "team-b", "prune": True})
    code, out = cli("once", "-c", str(team_b))
    assert code == 1 and "conflict" in out
    assert secret_data(core, namespace, "s3-secret")["AWS_ACCESS_KEY_ID"] == key_a
    elsewhere = write_config([s3_entry("s3", f"{vault_prefix}/b", [namespace + "-x"])],
                             sync={"instance": "team-b", "prune": True})
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=namespace + "-x")))
    assert cli("once", "-c", str(elsewhere))[0] == 0
    assert secret_data(core, namespace, "s3-secret")["AWS_ACCESS_KEY_ID"] == key_a
    written = labels_of(core.read_namespaced_secret("s3-secret", namespace))
    assert written["kserve-vault-sync/instance"] == "team-a"
