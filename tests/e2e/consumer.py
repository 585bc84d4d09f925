"""KServe's own storage initializer as a test consumer of our credentials.

Why: the syncer's output contract (docs/kserve-contract.md) is "what KServe reads". The
strongest proof is to run KServe's real download code (PyPI `kserve-storage`,
`Storage.download(uri, out_dir)`) against a real S3 API (`moto[server]` on
loopback, with IAM enforced) using exactly the env KServe's controller builds
from our Secret, or our storage-config JSON passed as `STORAGE_CONFIG`.

Each side lives in its own cached virtualenv: in a cluster the consumer is its
own container, and botocore pins `python-dateutil<3` while the project's
kubernetes client needs `>=3`, so neither can share the project venv.

`STORAGE_CONFIG` (checked in kserve-storage 0.21.0, kserve_storage.py):
`Storage.download` always calls `_update_with_storage_spec()` first, so no
other env and no special uri is needed. It json-loads `STORAGE_CONFIG`, merges
`STORAGE_OVERRIDE_CONFIG` (optional, the webhook's per-InferenceService
parameters) over it, and only when `type == "s3"` copies `endpoint_url`,
`access_key_id`, `secret_access_key`, `region`, `ca_bundle`, `verify_ssl`,
`anonymous` into `os.environ` (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...,
awsAnonymousCredential) - so it overrides the env keys, a non-string value
crashes it (os.environ rejects it) and an entry without `type` is ignored.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from tests import processes

KSERVE_STORAGE_VERSION = "0.21.0"
MOTO_VERSION = "5.2.5"
_INSTALL_TIMEOUT = 1200.0
_ANN = "serving.kserve.io/"


def _log(message: str) -> None:
    print(f"[e2e consumer] {message}", file=sys.stderr, flush=True)


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kserve-vault-sync"


def _cached_venv(name: str, requirements: list[str], probe: str) -> Path:
    """Create (once, under an flock) and return the python of a cached venv.

    The marker holding the requirement list is written only after pip and an
    import probe succeeded, so a half-finished install is redone, never reused.
    """
    root = _cache_root()
    root.mkdir(parents=True, exist_ok=True)
    venv_dir = root / name
    python = venv_dir / "bin" / "python"
    marker = venv_dir / ".kvs-installed"
    wanted = "\n".join(requirements) + "\n"

    def ready() -> bool:
        return python.exists() and marker.is_file() and marker.read_text() == wanted

    if ready():
        return python
    with (root / f"{name}.lock").open("w") as lock:
        deadline, waited = time.monotonic() + _INSTALL_TIMEOUT, False
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as busy:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"install lock of {venv_dir} still held") from busy
                if not waited:
                    _log(f"waiting for another process installing {venv_dir} ...")
                waited = True
                time.sleep(1)
        if ready():  # the other process finished it meanwhile
            return python
        started = time.monotonic()
        _log(f"creating {venv_dir} with {' '.join(requirements)} (first run, about a minute)")
        shutil.rmtree(venv_dir, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv_dir)], check=True, timeout=300)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--disable-pip-version-check",
             "--progress-bar", "off", "-q", *requirements],
            check=True, timeout=_INSTALL_TIMEOUT, stdout=sys.stderr,
        )
        subprocess.run([str(python), "-c", probe], check=True, timeout=120)
        marker.write_text(wanted)
        _log(f"{venv_dir} ready in {time.monotonic() - started:.0f}s")
    return python


def consumer_python(version: str = KSERVE_STORAGE_VERSION) -> Path:
    """The python of a venv holding only `kserve-storage` (KServe's storage initializer)."""
    return _cached_venv(f"consumer-venv-{version}", [f"kserve-storage=={version}"],
                        "from kserve_storage import Storage")


def moto_python() -> Path:
    """The python of a venv holding `moto[server]` (and boto3 to drive its API)."""
    return _cached_venv(f"moto-venv-{MOTO_VERSION}", [f"moto[server]=={MOTO_VERSION}", "boto3"],
                        "import moto.server, boto3")


def _hermetic_env(home: str) -> dict[str, str]:
    """Base env for child pythons: no proxies, no AWS_* and no ~/.aws from the parent."""
    return {"PATH": os.environ.get("PATH", os.defpath), "HOME": home,
            "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}


# Runs inside the moto venv: one JSON request on stdin, one JSON answer on stdout.
_BOTO_SCRIPT = r"""
import json, sys
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
req = json.load(sys.stdin)
cfg = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30)
def client(service, key):
    return boto3.client(service, endpoint_url=req["url"], region_name="us-east-1", config=cfg,
                        aws_access_key_id=key[0], aws_secret_access_key=key[1])
def can_read(key):
    try:
        client("s3", key).get_object(Bucket=req["bucket"], Key=req["key"])["Body"].read()
        return True, ""
    except ClientError as exc:
        return False, exc.response["Error"]["Code"]
op, out = req["op"], {}
if op == "setup":  # exactly INITIAL_NO_AUTH_ACTION_COUNT unauthenticated actions
    anon = ("setup-unused", "setup-unused")
    iam = client("iam", anon)
    iam.create_user(UserName=req["user"])
    iam.put_user_policy(UserName=req["user"], PolicyName="models-rw",
                        PolicyDocument=json.dumps(req["policy"]))
    made = iam.create_access_key(UserName=req["user"])["AccessKey"]
    s3 = client("s3", anon)
    s3.create_bucket(Bucket=req["bucket"])
    s3.put_object(Bucket=req["bucket"], Key=req["key"], Body=bytes.fromhex(req["body"]))
    key = (made["AccessKeyId"], made["SecretAccessKey"])
    wrong, right = can_read(("AKIAWRONGWRONGWRONG0", "wrong")), can_read(key)
    if wrong[0] or not right[0]:
        sys.exit(f"moto does not enforce IAM: wrong key read={wrong}, right key read={right}")
    out = {"key": key}
elif op == "create_key":
    made = client("iam", req["auth"]).create_access_key(UserName=req["user"])["AccessKey"]
    out = {"key": (made["AccessKeyId"], made["SecretAccessKey"])}
elif op == "delete_key":
    client("iam", req["auth"]).delete_access_key(UserName=req["user"], AccessKeyId=req["target"])
elif op == "can_read":
    ok, code = can_read(req["target"])
    out = {"ok": ok, "code": code}
json.dump(out, sys.stdout)
"""


class MotoS3:
    """A real moto S3+IAM server on 127.0.0.1 whose IAM is enforced after setup.

    Why: without `INITIAL_NO_AUTH_ACTION_COUNT` moto accepts any key, and a
    download test would prove nothing. The server starts with N free actions;
    `__enter__` spends exactly N (create user, put its policy, create its key,
    create the bucket, put the object) and then checks that a wrong key is
    refused and the right one reads. The user's policy allows s3:* and managing
    its own access keys, so rotation helpers are themselves authenticated calls.
    Moto (like AWS) allows at most two keys per user: delete one before a third.
    """

    bucket = "models"
    object_key = "model.bin"
    object_bytes = b"kserve-vault-sync e2e model\n" + bytes(range(256))
    user = "kserve-model-reader"
    _FREE_ACTIONS = 5
    _POLICY: Mapping[str, Any] = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Allow", "Action": ["iam:CreateAccessKey", "iam:DeleteAccessKey"],
         "Resource": "*"}]}

    def __init__(self, *, startup_timeout: float = 60.0) -> None:
        self._startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._workdir = Path(tempfile.mkdtemp(prefix="kvs-moto-"))
        self._python = Path()
        self._keys: list[tuple[str, str]] = []  # live keys, oldest first
        self._initial: tuple[str, str] | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        """host:port without scheme, as written to the `s3-endpoint` annotation."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The endpoint with scheme, as in AWS_ENDPOINT_URL or storage-config `endpoint_url`."""
        return f"http://{self.endpoint}"

    @property
    def uri(self) -> str:
        """The model's storage uri, as an InferenceService would name it."""
        return f"s3://{self.bucket}/{self.object_key}"

    @property
    def initial_key(self) -> tuple[str, str]:
        """(access key id, secret) made during setup."""
        assert self._initial is not None, "MotoS3 is not started"
        return self._initial

    @property
    def log_path(self) -> Path:
        """moto's own request log (deleted on exit), for diagnosing a failing test."""
        return self._workdir / "moto.log"

    def _log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""

    def __enter__(self) -> Self:
        self._python = moto_python()
        started = time.monotonic()
        try:
            for _ in range(3):  # a free port may be taken between probe and bind
                if self._spawn():
                    break
            else:
                raise RuntimeError(f"moto server did not start; log: {self._log_tail()}")
            self._initial = self._new_key("setup", policy=self._POLICY,
                                          body=self.object_bytes.hex())
            self._keys = [self._initial]
        except BaseException:
            self.__exit__(None, None, None)
            raise
        _log(f"moto {MOTO_VERSION} up on {self.url} with IAM enforced "
             f"({time.monotonic() - started:.1f}s)")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
        shutil.rmtree(self._workdir, ignore_errors=True)

    def create_access_key(self) -> tuple[str, str]:
        """A further key for the same user, made with a live key (an authenticated call)."""
        key = self._new_key("create_key", auth=self._keys[-1])
        self._keys.append(key)
        return key

    def delete_access_key(self, access_key_id: str) -> None:
        """Delete a key, authenticated with another live key where there is one."""
        others = [k for k in self._keys if k[0] != access_key_id]
        auth = others[-1] if others else self._keys[-1]
        self._boto("delete_key", auth=auth, target=access_key_id)
        self._keys = others

    def can_read(self, key: tuple[str, str]) -> bool:
        """Whether a plain S3 GetObject of the model with this key succeeds."""
        return bool(self._boto("can_read", target=key)["ok"])

    def stop(self) -> None:
        """Stop the server by its own pid: terminate, bounded wait, then kill."""
        proc, self._proc = self._proc, None
        if proc is not None:
            processes.stop(proc)

    def _spawn(self) -> bool:
        """Start moto on a fresh free port; False if it exited (port taken meanwhile)."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        env = _hermetic_env(str(self._workdir))
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(self._FREE_ACTIONS)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [str(self._python), "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            try:  # a bare TCP connect: an HTTP probe would spend a free action
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return True
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"moto not listening after {self._startup_timeout}s: "
                           f"{self._log_tail()}")

    def _boto(self, op: str, **fields: Any) -> dict[str, Any]:
        request = {"op": op, "url": self.url, "bucket": self.bucket, "key": self.object_key,
                   "user": self.user, **fields}
        done = subprocess.run(
            [str(self._python), "-c", _BOTO_SCRIPT], input=json.dumps(request).encode(),
            capture_output=True, timeout=60, check=False, env=_hermetic_env(str(self._workdir)),
        )
        if done.returncode != 0:
            raise RuntimeError(f"moto {op} failed: {done.stderr.decode(errors='replace')[-2000:]}")
        answer: dict[str, Any] = json.loads(done.stdout)
        return answer

    def _new_key(self, op: str, **fields: Any) -> tuple[str, str]:
        key_id, secret = self._boto(op, **fields)["key"]
        return str(key_id), str(secret)


class MissingSecretKeyError(KeyError):
    """The Secret lacks a data key KServe needs, so the pod would not start."""


def kserve_env_from_s3_secret(
    data: Mapping[str, str], annotations: Mapping[str, str], *,
    access_key_name: str = "AWS_ACCESS_KEY_ID",
    secret_key_name: str = "AWS_SECRET_ACCESS_KEY",  # noqa: S107 - a key name, not a secret
    s3_config: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The storage-initializer env KServe's controller builds from an S3 Secret.

    Mirrors kserve/kserve@aaac4e294 pkg/credentials/s3/s3_secret.go
    (BuildSecretEnvs) and pkg/credentials/s3/utils.go (BuildS3EnvVars,
    getEnvValue, getEndpointConfiguration). `data` is already base64-decoded.
    Each setting is taken from the annotation if present (even when empty),
    else from the Secret's data under the env-var name (KServe >= 0.16), else
    from `s3_config` (inferenceservice-config `credentials.s3`, JSON field
    names such as "s3Endpoint"); it is set only when non-empty.
    """
    if secret_key_name not in data:  # service_account_credentials.go: not an S3 Secret at all
        raise MissingSecretKeyError(f"no data key {secret_key_name!r}: KServe does not read "
                                    "this Secret as S3 credentials")
    if access_key_name not in data:  # a secretKeyRef to a missing key: the pod never starts
        raise MissingSecretKeyError(f"no data key {access_key_name!r}: the pod would not start")
    config = s3_config or {}

    def value(annotation: str, env_name: str, config_field: str) -> str:
        if _ANN + annotation in annotations:
            return annotations[_ANN + annotation]
        if env_name in data:
            return data[env_name]
        return config.get(config_field, "")

    env = {"AWS_ACCESS_KEY_ID": data[access_key_name],
           "AWS_SECRET_ACCESS_KEY": data[secret_key_name]}
    endpoint = value("s3-endpoint", "S3_ENDPOINT", "s3Endpoint")
    if endpoint != "":
        endpoint = endpoint.strip()
        lowered = endpoint.lower()
        if lowered.startswith("https://"):
            use_https, host, url = "1", endpoint[8:], endpoint
        elif lowered.startswith("http://"):
            use_https, host, url = "0", endpoint[7:], endpoint
        else:
            use_https = value("s3-usehttps", "S3_USE_HTTPS", "s3UseHttps")
            host = endpoint
            url = ("http://" if use_https == "0" else "https://") + endpoint
        if use_https != "":
            env["S3_USE_HTTPS"] = use_https
        env["S3_ENDPOINT"] = host
        env["AWS_ENDPOINT_URL"] = url
    for annotation, env_name, config_field in (
        ("s3-verifyssl", "S3_VERIFY_SSL", "s3VerifySSL"),
        ("s3-useanoncredential", "awsAnonymousCredential", "s3UseAnonymousCredential"),
        ("s3-region", "AWS_DEFAULT_REGION", "s3Region"),
        ("s3-usevirtualbucket", "S3_USER_VIRTUAL_BUCKET", "s3UseVirtualBucket"),
        ("s3-useaccelerate", "S3_USE_ACCELERATE", "s3UseAccelerate"),
        ("s3-cabundle", "AWS_CA_BUNDLE", "s3CABundle"),
        ("s3-cabundle-configmap", "AWS_CA_BUNDLE_CONFIGMAP", "s3CABundleConfigMap"),
    ):
        found = value(annotation, env_name, config_field)
        if found != "":
            env[env_name] = found
    return env


@dataclass(frozen=True)
class DownloadResult:
    """What KServe's storage initializer did: success, the files it wrote, its log."""

    ok: bool
    files: dict[str, bytes]
    output: str
    returncode: int


_DOWNLOAD_SCRIPT = "import sys\nfrom kserve_storage import Storage\n" \
                   "Storage.download(sys.argv[1], sys.argv[2])\n"


def download(env: Mapping[str, str], uri: str, *, timeout: float = 120,
             version: str = KSERVE_STORAGE_VERSION) -> DownloadResult:
    """Run `Storage.download(uri, out_dir)` in the consumer venv with only `env`.

    The child sees exactly `env` plus PATH, a fresh HOME and the three AWS_*
    guards below (which `env` may override), so nothing from this process -
    proxies, AWS_* credentials, ~/.aws - can make a download pass that the
    real pod would fail. For the storage-config path pass
    {"STORAGE_CONFIG": json_text}; nothing else is needed. ``version`` picks
    the kserve-storage release (the KServe-in-the-loop test uses the one that
    matches the KServe manager it runs).
    """
    python = consumer_python(version)
    with tempfile.TemporaryDirectory(prefix="kvs-consumer-") as work:
        out_dir = Path(work) / "out"
        out_dir.mkdir()
        child_env = {**_hermetic_env(work), **env}
        proc = subprocess.Popen(
            [str(python), "-c", _DOWNLOAD_SCRIPT, uri, str(out_dir)], env=child_env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group, so a timeout also ends its worker pool
        )
        try:
            raw, _ = proc.communicate(timeout=timeout)
            returncode = proc.returncode
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            raw, _ = proc.communicate(timeout=10)
            raw += f"\n[e2e consumer] download timed out after {timeout}s".encode()
            returncode = -signal.SIGKILL
        files = {str(p.relative_to(out_dir)): p.read_bytes()
                 for p in sorted(out_dir.rglob("*")) if p.is_file()}
    return DownloadResult(ok=returncode == 0, files=files,
                          output=raw.decode(errors="replace"), returncode=returncode)
