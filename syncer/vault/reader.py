"""Read secrets from Vault / OpenBao with one login reused across cycles.

The token is renewed when two thirds of its TTL have passed and a fresh
login happens only when renewal is impossible or Vault answers 403. A login
Vault refuses (400: wrong audience, certificate, role) is an auth failure, not
retried. Values are wrapped in SecretValue before they leave this module.
Before the first login a ``vault.namespace`` is checked against the server's
edition (:mod:`syncer.vault.edition`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import hvac
import hvac.exceptions as hvac_exc
import requests
import structlog

from syncer import retry, settings
from syncer.errors import VaultAuthError, VaultError, VaultNotFound, short
from syncer.model import VaultData
from syncer.secretvalue import SecretValue
from syncer.vault import auth as vault_auth
from syncer.vault import edition
from syncer.vault.aws import AwsEngine
from syncer.vault.login import Login, TokenState, from_auth_response

log = structlog.get_logger(__name__)
T = TypeVar("T")

# Observer called after every Vault request: (operation, status) -> None. Metrics hook in here.
Observer = Callable[[str, str], None]


def _status(exc: BaseException) -> int | None:
    for cls, status in ((hvac_exc.Forbidden, 403), (hvac_exc.Unauthorized, 401),
                        (hvac_exc.InvalidPath, 404), (hvac_exc.RateLimitExceeded, 429),
                        (hvac_exc.InternalServerError, 500), (hvac_exc.BadGateway, 502),
                        (hvac_exc.VaultDown, 503), (hvac_exc.VaultNotInitialized, 501),
                        (hvac_exc.InvalidRequest, 400)):
        if isinstance(exc, cls):
            return status
    return None


def translate(exc: BaseException, what: str) -> VaultError:
    """hvac/requests errors -> our VaultError, with a message that holds no value."""
    if isinstance(exc, requests.exceptions.SSLError):
        return VaultError(f"{what}: TLS verification failed ({short(exc)})")
    if isinstance(exc, requests.exceptions.RequestException):
        return VaultError(f"{what}: Vault unreachable ({type(exc).__name__})", transient=True)
    status = _status(exc)
    detail = _detail(exc)
    if status == 404:
        return VaultNotFound(f"{what}: not found", status=404)
    if status in (401, 403):
        return VaultAuthError(f"{what}: permission denied ({detail})", status=status)
    transient = status in (429, 500, 502, 503)
    if status == 503 and "sealed" in detail.lower():
        detail = "Vault is sealed"
    return VaultError(f"{what}: HTTP {status or '?'} ({detail})", status=status,
                      transient=transient)


def _detail(exc: BaseException) -> str:
    """Vault's own error texts (they name the problem, never a value), scrubbed."""
    errors = getattr(exc, "errors", None) or []
    return short("; ".join(str(e) for e in errors)) if errors else type(exc).__name__


class VaultReader:
    """The Vault adapter: login lifecycle, KV and other engines' reads, and the
    AWS engine's leases (``aws``)."""

    def __init__(self, config: settings.VaultSettings, *,
                 policy: retry.RetryPolicy = retry.DEFAULT,
                 observe: Observer | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._policy = policy
        self._observe = observe or (lambda op, status: None)
        self._clock = clock
        self._lock = threading.Lock()
        self._login: Login | None = None
        self._login_at = 0.0
        self._generation = 0  # bumped per login: concurrent 403s log in once
        self._granted = 0.0  # TTL granted at login: a renewal granting less met the max TTL
        self._final = False  # the token's end can no longer move (see token_state)
        self._edition_checked = not config.namespace
        verify: bool | str = (config.ca_cert or os.environ.get("REQUESTS_CA_BUNDLE")
                              or os.environ.get("CURL_CA_BUNDLE") or True)
        auth = config.auth
        # cert auth: every connection presents the client certificate (file paths,
        # read by the TLS layer per connection; see auth_cert).
        cert = ((auth.client_cert, auth.client_key)
                if auth.method == "cert" and auth.client_cert and auth.client_key else None)
        self._client = hvac.Client(url=config.address, namespace=config.namespace or None,
                                   verify=verify, timeout=config.timeout, cert=cert,
                                   session=_session(config.address, verify, cert))
        self.aws = AwsEngine(self.call, self.token_state, self.relogin)

    def __repr__(self) -> str:
        return f"VaultReader(address={self._config.address!r})"

    # -- token lifecycle -------------------------------------------------

    def token_ttl(self) -> float | None:
        """Seconds left on the token, None if unknown, inf if it never expires."""
        if self._login is None:
            return None
        if self._login.ttl == 0:
            return float("inf")
        return max(0.0, self._login.ttl - (self._clock() - self._login_at))

    def token_state(self) -> TokenState:
        """Generation, end and finality of the current token (leases die with it),
        renewed first if due: a cycle with no other request still keeps it alive."""
        self.ensure_token()
        ttl = self.token_ttl()
        end = None if ttl is None or ttl == float("inf") else time.time() + ttl
        final = self._final or (self._login is not None and not self._login.renewable)
        return TokenState(self._generation, end, final)

    def relogin(self) -> bool:
        """A fresh token now (leases issued next outlive the current one); False if this
        auth method cannot log in again (a static token)."""
        with self._lock:
            if self._login is not None and not self._login.can_relogin:
                return False
            self._policy.call("login", self._do_login)
            return True

    def _do_login(self) -> None:
        what = f"login ({self._config.auth.method} at auth/{self._config.auth.mount_point})"
        try:
            login = vault_auth.login(self._client, self._config.auth)
            self._observe("login", "ok")
        except FileNotFoundError as exc:
            self._observe("login", "error")
            raise VaultAuthError(f"{what}: {exc}") from None
        except (hvac_exc.VaultError, requests.exceptions.RequestException) as exc:
            self._observe("login", "error")
            if _status(exc) == 400:  # Vault refused what we presented: retrying cannot help
                raise VaultAuthError(f"{what}: refused by Vault (HTTP 400: {_detail(exc)})",
                                     status=400) from None
            raise translate(exc, what) from None
        self._login, self._login_at = login, self._clock()
        self._generation += 1
        self._granted, self._final = login.ttl, False
        self._client.token = login.token
        log.info("vault_login", method=self._config.auth.method, ttl=login.ttl,
                 renewable=login.renewable)

    def ensure_token(self) -> None:
        """Log in once; renew past two thirds of the TTL; log in again if renewal fails."""
        with self._lock:
            if not self._edition_checked:
                self._policy.call("sys/health", self._check_edition)
            if self._login is None:
                self._policy.call("login", self._do_login)
                return
            ttl = self._login.ttl
            if ttl == 0 or (self._clock() - self._login_at) < ttl * 2 / 3:
                return
            if self._login.renewable:
                try:
                    response = self._client.auth.token.renew_self()
                    self._observe("renew", "ok")
                    new = from_auth_response(
                        response, can_relogin=self._login.can_relogin)
                    self._login = Login(self._login.token, new.ttl, new.renewable,
                                                   self._login.can_relogin)
                    self._login_at = self._clock()
                    # Granted less than at login: the max TTL is reached, the end is final.
                    self._final = self._final or new.ttl < self._granted - 1
                    log.info("vault_token_renewed", ttl=new.ttl)
                    if new.ttl > ttl / 3:
                        return
                except (hvac_exc.VaultError, requests.exceptions.RequestException) as exc:
                    self._observe("renew", "error")
                    log.warning("vault_renew_failed", error=str(translate(exc, "renew")))
            if self._login.can_relogin:
                self._policy.call("login", self._do_login)

    def _check_edition(self) -> None:
        """Refuse vault.namespace on a server that would ignore it (edition.py)."""
        try:
            health = edition.read_health(self._client, self._config.timeout)
        except requests.exceptions.RequestException as exc:
            self._observe("health", "error")
            raise translate(exc, "sys/health") from None
        self._observe("health", "ok")
        problem = edition.namespace_problem(health, self._config.namespace)
        if problem:
            raise VaultError(problem)
        self._edition_checked = True

    # -- requests --------------------------------------------------------

    def call(self, what: str, operation: str, fn: Callable[[Any], T], *,
             retry: bool = True) -> T:
        """One request with our token: ``fn`` gets the hvac client. Transient errors are
        retried unless ``retry`` is False (a request not safe to repeat); a 403 gets one
        fresh login and one more try. Errors come back as VaultError, holding no value."""
        self.ensure_token()
        generation = self._generation

        def once() -> T:
            try:
                result = fn(self._client)
            except (hvac_exc.VaultError, requests.exceptions.RequestException) as exc:
                error = translate(exc, what)
                self._observe(operation, str(error.status or "error"))
                raise error from None
            self._observe(operation, "ok")
            return result

        def attempt() -> T:
            return self._policy.call(what, once) if retry else once()
        try:
            return attempt()
        except VaultAuthError:
            if not (self._login and self._login.can_relogin):
                raise
            with self._lock:
                if self._generation == generation:  # not already replaced by another request
                    log.info("vault_relogin_after_403", what=what)
                    self._policy.call("login", self._do_login)
            return attempt()

    def read(self, mount: str, path: str, kv_version: int, version: int | None = None
             ) -> VaultData:
        """Read one secret: KV v1 or v2, or (``kv_version`` 0) one plain GET of another
        engine's path, such as an AWS static role's key."""
        what = f"read {mount}/{path}" + (f"@{version}" if version else "")
        if kv_version < 0:  # render.LEASED: a read there makes a key nobody would hold
            raise VaultError(f"{what}: a leased key is issued only by a sync (once, run)")

        def fetch(client: Any) -> Any:
            if kv_version == 2:
                return client.secrets.kv.v2.read_secret_version(
                    path=path, version=version, mount_point=mount, raise_on_deleted_version=True)
            if kv_version == 1:
                return client.secrets.kv.v1.read_secret(path=path, mount_point=mount)
            return client.adapter.get(f"/v1/{mount}/{path}")
        return _to_vault_data(self.call(what, "read", fetch), mount, path, kv_version, what)

    def read_metadata(self, mount: str, path: str) -> tuple[int | None, str | None]:
        """Current KV v2 version and its creation time, reading no secret value."""
        what = f"metadata {mount}/{path}"
        self.ensure_token()
        try:
            data = self._client.secrets.kv.v2.read_secret_metadata(path=path,
                                                                   mount_point=mount)["data"]
            self._observe("metadata", "ok")
        except (hvac_exc.VaultError, requests.exceptions.RequestException) as exc:
            self._observe("metadata", "error")
            raise translate(exc, what) from None
        current = data.get("current_version")
        created = (data.get("versions") or {}).get(str(current), {}).get("created_time")
        return current, created


def _session(address: str, verify: bool | str, cert: tuple[str, str] | None
             ) -> requests.Session:
    """One HTTP session for every Vault request, its proxy settings read once.

    By default requests re-reads the environment for proxies on every request (a
    scan of os.environ each time: a quarter of a no-op cycle's CPU at 1,000 Vault
    paths). The proxy for Vault's address is taken from the environment here, once;
    the CA bundle variables are honoured where the client is built."""
    session = requests.Session()
    session.verify = verify  # hvac sets these only on a session it makes itself
    session.cert = cert
    session.trust_env = False
    session.proxies = requests.utils.get_environ_proxies(address)
    adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=16)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _to_vault_data(response: Any, mount: str, path: str, kv_version: int, what: str
                   ) -> VaultData:
    if not isinstance(response, dict) or not isinstance(response.get("data"), dict):
        raise VaultError(f"{what}: unexpected response shape")
    if kv_version == 2:
        payload, meta = response["data"].get("data"), response["data"].get("metadata") or {}
        if payload is None:
            raise VaultNotFound(f"{what}: version deleted or destroyed", status=404)
        version, created = meta.get("version"), meta.get("created_time")
    else:
        payload, version, created = response["data"], None, None
    if not isinstance(payload, dict):
        raise VaultError(f"{what}: data is not a key/value map")
    values = {k: SecretValue(v) for k, v in payload.items() if isinstance(v, str)}
    others = frozenset(k for k, v in payload.items() if not isinstance(v, str))
    return VaultData(mount=mount, path=path, version=version, data=values,
                     created_time=created, non_string_keys=others)
