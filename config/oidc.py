"""The OpenID provider as the API and the login see it: its discovery document, its keys, its tokens.

Signatures and claims are checked by PyJWT; this module only decides which keys and rules apply:
the algorithms allow-list (asymmetric only: ``none`` and HS* are refused, so the public key can
never serve as an HMAC secret), issuer, audience, expiry with a small leeway.

Keys (JWKS) are kept in Django's cache, shared by every process, and parsed once per process: an
API request with a provider token reads neither the network nor the cache while the keys are fresh
(bench/oidc_token_bench.py). A token whose key id is unknown fetches the keys again (the provider
rotated them), at most once per ``OIDC_JWKS_REFRESH_SECONDS`` across all processes.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass

import jwt
import requests
from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

ALLOWED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512"}
)


class ProviderUnavailable(Exception):
    """The provider could not be reached or answered nonsense (discovery, keys, token endpoint)."""


class InvalidToken(Exception):
    """A bearer token that is not a valid token of the provider; the message says why."""


def enabled() -> bool:
    """Whether single sign-on is configured (OIDC_ISSUER and OIDC_CLIENT_ID)."""
    return bool(settings.OIDC_ISSUER and settings.OIDC_CLIENT_ID)


def looks_like_jwt(key: str) -> bool:
    """A JWT is three dot-separated base64url parts; a DRF token key is 40 hex digits, with no dot."""
    return key.count(".") == 2


def cache_key(kind: str) -> str:
    """The cache key of the discovery document, the keys or the refresh lock of the configured provider."""
    provider = hashlib.sha256(settings.OIDC_DISCOVERY_URL.encode()).hexdigest()[:16]
    return f"oidc:{kind}:{provider}"


def forget() -> None:
    """Drops the cached discovery document and keys (this process's and the shared cache's)."""
    cache.delete_many([cache_key("discovery"), cache_key("jwks"), cache_key("jwks-refresh")])
    keys.clear()


def _get_json(url: str) -> dict:
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT_SECONDS)
        response.raise_for_status()
        data = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise ProviderUnavailable(f"the OpenID provider did not answer {url}: {exc}") from exc
    if not isinstance(data, dict):
        raise ProviderUnavailable(f"the OpenID provider answered {url} with something other than an object")
    return data


def metadata() -> dict:
    """The provider's discovery document (cached): its endpoints, issuer and key set address."""
    data = cache.get(cache_key("discovery"))
    if data is None:
        data = _get_json(settings.OIDC_DISCOVERY_URL)
        missing = {"authorization_endpoint", "token_endpoint", "jwks_uri"} - data.keys()
        if missing:
            raise ProviderUnavailable(f"the provider's discovery document lacks {', '.join(sorted(missing))}")
        cache.set(cache_key("discovery"), data, settings.OIDC_JWKS_CACHE_SECONDS)
    return data


def endpoint(name: str) -> str:
    """One endpoint of the discovery document ("authorization_endpoint", "token_endpoint", ...)."""
    value = metadata().get(name)
    if not value:
        raise ProviderUnavailable(f"the provider's discovery document has no {name}")
    return value


@dataclass
class _KeySet:
    keys: dict[str | None, jwt.PyJWK]
    loaded_at: float


class _Keys:
    """This process's parsed copy of the provider's keys, backed by Django's cache."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._set: _KeySet | None = None
        self._source: tuple | None = None

    def clear(self) -> None:
        with self._lock:
            self._set = None

    def _parse(self, jwks: dict) -> _KeySet:
        keys: dict[str | None, jwt.PyJWK] = {}
        for entry in jwks.get("keys", []) if isinstance(jwks, dict) else []:
            if entry.get("use", "sig") != "sig":
                continue
            try:
                keys[entry.get("kid")] = jwt.PyJWK(entry)
            except jwt.PyJWTError as exc:  # a key type PyJWT cannot use: skip it, keep the others
                logger.warning("skipping a provider key (kid %s): %s", entry.get("kid"), exc)
        return _KeySet(keys=keys, loaded_at=time.monotonic())

    def _fetch(self) -> dict:
        jwks = _get_json(endpoint("jwks_uri"))
        cache.set(cache_key("jwks"), jwks, settings.OIDC_JWKS_CACHE_SECONDS)
        return jwks

    def _current(self) -> _KeySet:
        source = (settings.OIDC_DISCOVERY_URL, settings.OIDC_JWKS_CACHE_SECONDS)
        current = self._set
        if (
            current is not None
            and self._source == source
            and time.monotonic() - current.loaded_at < settings.OIDC_JWKS_CACHE_SECONDS
        ):
            return current
        jwks = cache.get(cache_key("jwks"))
        if jwks is None:
            jwks = self._fetch()
        with self._lock:
            self._set, self._source = self._parse(jwks), source
            return self._set

    def key(self, kid: str | None) -> jwt.PyJWK:
        """The provider's key with this id; an unknown id fetches the key set again (rate-limited)."""
        current = self._current()
        if kid in current.keys:
            return current.keys[kid]
        # Another process may have fetched the rotated keys already.
        shared = cache.get(cache_key("jwks"))
        if shared is not None:
            parsed = self._parse(shared)
            if kid in parsed.keys:
                with self._lock:
                    self._set = parsed
                return parsed.keys[kid]
        # One refresh per OIDC_JWKS_REFRESH_SECONDS for all processes: cache.add succeeds only once.
        if cache.add(cache_key("jwks-refresh"), 1, settings.OIDC_JWKS_REFRESH_SECONDS):
            logger.info("unknown key id %r: fetching the provider's keys again", kid)
            fresh = self._parse(self._fetch())
            with self._lock:
                self._set = fresh
            if kid in fresh.keys:
                return fresh.keys[kid]
        raise InvalidToken("The token's key id is not one of the provider's keys.")


keys = _Keys()


def decode(token: str, *, audience: str, nonce: str | None = None) -> dict:
    """The claims of a token signed by the provider, or InvalidToken saying what is wrong with it.

    ProviderUnavailable when the keys cannot be had: the caller decides what that means to its user.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise InvalidToken("The token is not a readable JWT.") from exc
    algorithm = header.get("alg")
    allowed = ALLOWED_ALGORITHMS.intersection(settings.OIDC_ALGORITHMS)
    if algorithm not in allowed:
        raise InvalidToken(
            f"The token's algorithm {algorithm!r} is not accepted (accepted: {', '.join(sorted(allowed))})."
        )
    key = keys.key(header.get("kid"))
    if key.algorithm_name and key.algorithm_name != algorithm:
        raise InvalidToken("The token's algorithm does not match its key.")
    try:
        claims = jwt.decode(
            token,
            key=key,
            algorithms=[algorithm],
            audience=audience,
            issuer=settings.OIDC_ISSUER,
            leeway=settings.OIDC_LEEWAY_SECONDS,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("The token has expired.") from exc
    except jwt.InvalidAudienceError as exc:
        raise InvalidToken("The token is not meant for this service (audience).") from exc
    except jwt.InvalidIssuerError as exc:
        raise InvalidToken("The token was not issued by the configured provider (issuer).") from exc
    except jwt.InvalidSignatureError as exc:
        raise InvalidToken("The token's signature does not verify.") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken(f"The token lacks the {exc.claim!r} claim.") from exc
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"The token is not valid: {exc}.") from exc
    if nonce is not None and claims.get("nonce") != nonce:
        raise InvalidToken("The ID token's nonce does not match the login.")
    return claims


def is_client_token(claims: dict) -> bool:
    """A client-credentials token: issued to a client for itself, its subject is the client."""
    client = claims.get("client_id") or claims.get("azp")
    return bool(client) and claims.get("sub") == client or claims.get("idtyp") == "app"


def group_names(claims: dict) -> list[str] | None:
    """The groups claim as a list of names; None when the claim is absent (no group is assumed)."""
    value = claims.get(settings.OIDC_GROUPS_CLAIM)
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        logger.warning("the %r claim is neither a list nor a string: ignored", settings.OIDC_GROUPS_CLAIM)
        return None
    # Keycloak's full-path groups ("/team/sub") are named without the leading slash.
    names = {str(v).strip().lstrip("/")[:150] for v in value if str(v).strip().lstrip("/")}
    return sorted(names)
