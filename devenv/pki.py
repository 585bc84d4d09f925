"""Certificates and keys for the local control plane, made with the openssl CLI.

The API server gets a serving certificate signed by a throwaway CA, so the
kubeconfig and OpenBao's kubernetes auth can verify TLS for real instead of
turning verification off. The ServiceAccount signing key lets the API server
issue tokens that OpenBao reviews with a TokenReview. The Vault servers' TLS
listener gets a certificate from the same CA; client certificates for Vault's
``cert`` auth come from CAs of their own (``make_client_ca``).
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {result.stderr.strip()[-500:]}")


def make_pki(folder: Path) -> dict[str, Path]:
    """Create ca.crt, apiserver.crt/.key and sa.key/.pub in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
             "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=kserve-vault-sync-dev-ca",
             cwd=folder)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "apiserver.key",
             "-out", "apiserver.csr", "-subj", "/CN=kube-apiserver", cwd=folder)
    (folder / "san.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc\n"
        "extendedKeyUsage=serverAuth\n"
    )
    _openssl("x509", "-req", "-in", "apiserver.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "30", "-out", "apiserver.crt", "-extfile", "san.ext",
             cwd=folder)
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=folder)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=folder)
    issue(folder, "ca", "vault", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
          "extendedKeyUsage=serverAuth\n")
    return {name: folder / name for name in
            ("ca.crt", "apiserver.crt", "apiserver.key", "sa.key", "sa.pub", "vault.crt",
             "vault.key")}


def issue(folder: Path, ca: str, name: str, extensions: str) -> tuple[Path, Path]:
    """``<name>.crt``/``.key`` signed by ``<ca>.crt``/``.key`` in ``folder``."""
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
             "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=folder)
    (folder / f"{name}.ext").write_text(extensions)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-days", "30", "-out", f"{name}.crt",
             "-extfile", f"{name}.ext", cwd=folder)
    return folder / f"{name}.crt", folder / f"{name}.key"


def make_client_ca(folder: Path, name: str) -> tuple[Path, Path]:
    """A CA of its own for client certificates (Vault's ``cert`` auth trusts it)."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
             "-keyout", f"{name}.key", "-out", f"{name}.crt", "-subj", f"/CN={name}",
             cwd=folder)
    return folder / f"{name}.crt", folder / f"{name}.key"


def issue_client_cert(folder: Path, ca: str, name: str) -> tuple[Path, Path]:
    """A TLS client certificate ``<name>`` signed by the client CA ``<ca>``."""
    return issue(folder, ca, name, "extendedKeyUsage=clientAuth\n")


def make_serving_cert(folder: Path, name: str, out: Path) -> tuple[Path, Path]:
    """A serving certificate for 127.0.0.1 signed by the CA in ``folder``, written to
    ``out/tls.crt`` and ``out/tls.key`` (the names controller-runtime's webhook server reads)."""
    out.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(out / "tls.key"),
             "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=folder)
    (folder / f"{name}.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "30", "-out", str(out / "tls.crt"),
             "-extfile", f"{name}.ext", cwd=folder)
    return out / "tls.crt", out / "tls.key"
