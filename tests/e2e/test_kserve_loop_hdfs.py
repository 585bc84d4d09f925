"""KServe in the loop: the HDFS shape, files and all, read by kserve-storage's own code.

The syncer writes the Secret from OpenBao - the connection settings from the
config, a Kerberos principal, a binary keytab (stored base64 in OpenBao),
TLS certificate, key and CA (PEM) and headers - and lists it in a
ServiceAccount. An InferenceService with an ``hdfs://`` storageUri uses it;
KServe's webhook mounts the whole Secret at ``/var/secrets/kserve-hdfscreds``
(pkg/credentials/hdfs/hdfs_secret.go). The test mounts it as the kubelet would
and runs kserve-storage's ``Storage._load_hdfs_configuration()``, which reads
those files. No HDFS runs here, so the download itself is not run: the
storage initializer image adds the ``hdfs`` and ``krbcontext`` packages
(with a Kerberos build) that ``_download_hdfs`` imports. Instead the TLS files
and headers are used the way ``_download_hdfs`` uses them - a requests Session
with ``cert``, ``verify`` and ``headers`` from that configuration - against a
loopback HTTPS endpoint that demands a client certificate from our CA and the
header: the certificate, key, CA and headers we wrote work in a real handshake.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import hvac
import pytest

from devenv import pki
from tests import seeds
from tests.e2e import kubelet
from tests.e2e.conftest import Sync
from tests.e2e.consumer import consumer_python
from tests.e2e.kserve_cluster import KServeCluster
from tests.e2e.modelhost import ModelHost
from tests.e2e.readback import STORAGE

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
MOUNT = "/var/secrets/kserve-hdfscreds"
ROOT_PATH = "/user/kserve"
STATUS = f"/webhdfs/v1{ROOT_PATH}?op=GETFILESTATUS"
FILES = ("KERBEROS_KEYTAB", "TLS_CERT", "TLS_KEY", "TLS_CA")

# Runs in kserve-storage's venv with the Secret mounted where HDFS_SECRET_DIR points.
# Values are reported as hashes; the session is built as _download_hdfs builds it.
PROBE = r"""
import hashlib, json, os, requests
from kserve_storage import Storage
config = Storage._load_hdfs_configuration()
def digest(key, value):
    if value is None:
        return None
    data = open(value, "rb").read() if key in ("KERBEROS_KEYTAB", "TLS_CERT", "TLS_KEY",
                                                "TLS_CA") else value.encode()
    return hashlib.sha256(data).hexdigest()
out = {"config": {k: digest(k, v) for k, v in config.items()},
       "namenode": config["HDFS_NAMENODE"], "root": config["HDFS_ROOTPATH"]}
s = requests.Session()
if config["TLS_CERT"]:
    s.cert = (config["TLS_CERT"], config["TLS_KEY"])
if config["TLS_CA"]:
    s.verify = config["TLS_CA"]
if config["TLS_SKIP_VERIFY"].lower() == "true":
    s.verify = False
if config["HEADERS"]:
    s.headers.update(json.loads(config["HEADERS"]))
url = config["HDFS_NAMENODE"] + "/webhdfs/v1" + config["HDFS_ROOTPATH"] + "?op=GETFILESTATUS"
out["status"] = s.get(url, timeout=30).status_code
print(json.dumps(out))
"""


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tls_files(folder: Path) -> dict[str, Path]:
    """A CA, a server certificate for localhost and a client certificate, all from it."""
    ca, _ = pki.make_client_ca(folder, "hdfs-ca")
    server, server_key = pki.issue(folder, "hdfs-ca", "namenode",
                                   "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n")
    client, client_key = pki.issue_client_cert(folder, "hdfs-ca", "kserve")
    seeds.register("hdfs-client-key", client_key.read_text().strip().splitlines()[1])
    return {"ca": ca, "server": server, "server_key": server_key, "client": client,
            "client_key": client_key}


def probe(resolved: kubelet.Resolved) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kvs-pod-") as root:
        env = {**resolved.materialize(Path(root)), "PATH": "/usr/bin:/bin", "HOME": root,
               # kserve-storage reads /var/secrets/kserve-hdfscreds unless this names
               # another folder: here, where the kubelet's mount was written.
               "HDFS_SECRET_DIR": str(Path(root) / MOUNT.lstrip("/"))}
        done = subprocess.run([str(consumer_python(STORAGE)), "-c", PROBE], env=env,
                              capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_hdfs_files_reach_kserve_storage_and_work_in_a_tls_handshake(
        cluster: KServeCluster, kbao: hvac.Client, sync: Sync, kns: str,
        tmp_path: Path) -> None:
    tls = tls_files(tmp_path)
    # A keytab is binary: bytes that are not UTF-8 must arrive byte for byte.
    keytab = bytes([0x05, 0x02, 0xff, 0xfe, 0x00]) + secrets.token_bytes(128)
    header = seeds.fake("loop-hdfs-header")
    values = {"principal": "kserve@KVS.TEST", "keytab": base64.b64encode(keytab).decode(),
              "cert": tls["client"].read_text(), "key": tls["client_key"].read_text(),
              "ca": tls["ca"].read_text(), "headers": json.dumps({"X-Hdfs-Token": header})}
    seeds.register("loop-hdfs-keytab", values["keytab"])
    path = f"loop/hdfs-{secrets.token_hex(3)}"
    kbao.secrets.kv.v2.create_or_update_secret(path, secret=values)

    with ModelHost("X-Hdfs-Token", header, path=STATUS,
                   tls=(tls["server"], tls["server_key"], tls["ca"])) as namenode:
        sync([{"name": "hdfs", "type": "hdfs",
               "hdfs": {"namenode": namenode.base, "rootPath": ROOT_PATH, "nThreads": 2},
               "vault": {"path": path, "keys": {
                   "kerberosPrincipal": "principal", "kerberosKeytab": "keytab",
                   "tlsCert": "cert", "tlsKey": "key", "tlsCa": "ca", "headers": "headers"}},
               "targets": [{"namespaces": [kns], "secret": "hdfs-creds",
                            "serviceAccount": "hdfs-sa"}]}])
        cluster.create_isvc(kns, "hdfs", {"serviceAccountName": "hdfs-sa", "model": {
            "modelFormat": {"name": "sklearn"}, "storageUri": "hdfs://models/sklearn"}})
        pod = cluster.wait_pod(kns, "hdfs")
        init = cluster.storage_initializer(pod)
        [mount] = [m for m in init.get("volumeMounts") or [] if m["mountPath"] == MOUNT]
        [volume] = [v for v in pod["spec"]["volumes"] if v["name"] == mount["name"]]
        assert volume["secret"]["secretName"] == "hdfs-creds" and mount.get("readOnly")
        resolved = kubelet.resolve(cluster.core, pod, "storage-initializer")
        assert resolved.files[f"{MOUNT}/KERBEROS_KEYTAB"] == keytab

        got = probe(resolved)
        assert (got["namenode"], got["root"]) == (namenode.base, ROOT_PATH)
        config = got["config"]
        assert config["KERBEROS_KEYTAB"] == sha(keytab)
        assert config["KERBEROS_PRINCIPAL"] == sha(b"kserve@KVS.TEST")
        for key, name in (("TLS_CERT", "client"), ("TLS_KEY", "client_key"), ("TLS_CA", "ca")):
            assert config[key] == sha(tls[name].read_bytes()), key
        assert config["HEADERS"] == sha(values["headers"].encode())
        assert config["N_THREADS"] == sha(b"2") and config["USER_PROXY"] is None
        # Client certificate, CA and header as _download_hdfs sets them: let in.
        assert got["status"] == 200, namenode.statuses
        assert namenode.statuses == [200]
