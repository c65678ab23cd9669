"""Signing in through the OpenID provider: mozilla-django-oidc's code flow, read from OIDC_* settings.

mozilla-django-oidc (Mozilla's, kept for a decade) does the flow: state, nonce, PKCE, the callback,
and SessionRefresh, which sends a signed-in user back to the provider (``prompt=none``) every
OIDC_RENEW_SECONDS, so a user disabled there loses the session at the next refresh. What it lacks
is added here: endpoints from the discovery document instead of settings, the ID token checked by
config/oidc.py (audience and the algorithms allow-list included), users found by subject
(config/oidc_users.py), a clear page when the provider is down, with no session and no user, and
a refresh that htmx can follow (``SessionRefresh``: ``HX-Redirect`` rather than a 302).
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.contrib import auth
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.http import Http404, HttpRequest
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect
from mozilla_django_oidc import auth as oidc_auth
from mozilla_django_oidc import middleware as oidc_middleware
from mozilla_django_oidc import views as oidc_views
from mozilla_django_oidc.utils import import_from_settings
from requests import RequestException

from config import oidc, oidc_users

logger = logging.getLogger(__name__)

_ENDPOINTS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_AUTH_ENDPOINT": "authorization_endpoint",  # the request view's own name for it
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}


def provider_setting(attr: str, *default):
    """mozilla-django-oidc's settings, answered from ours (OIDC_*) and the discovery document."""
    if attr in _ENDPOINTS:
        return oidc.endpoint(_ENDPOINTS[attr])
    ours = {
        "OIDC_RP_CLIENT_ID": lambda: settings.OIDC_CLIENT_ID,
        "OIDC_RP_CLIENT_SECRET": lambda: settings.OIDC_CLIENT_SECRET,
        "OIDC_RP_SCOPES": lambda: settings.OIDC_SCOPES,
        "OIDC_RP_SIGN_ALGO": lambda: "RS256",  # unused: config.oidc.decode checks the allow-list
        "OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS": lambda: settings.OIDC_RENEW_SECONDS,
        "OIDC_TIMEOUT": lambda: settings.OIDC_TIMEOUT_SECONDS,
        "OIDC_USE_PKCE": lambda: True,
        "OIDC_USE_NONCE": lambda: True,
        "LOGIN_REDIRECT_URL_FAILURE": lambda: reverse("login") + "?sso=failed",
    }
    if attr in ours:
        return ours[attr]()
    return import_from_settings(attr, *default)


class _LazySettings:
    """mozilla-django-oidc copies settings into attributes at construction; here they are read when used.

    Construction happens once per process (middleware) or before the provider is needed (views):
    reading the discovery document then would fail start-up while the provider is down.
    """

    get_settings = staticmethod(provider_setting)
    _DEFAULTS = {
        "OIDC_EXEMPT_URLS": [],
        "OIDC_STATE_SIZE": 32,
        "OIDC_NONCE_SIZE": 32,
        "OIDC_AUTHENTICATION_CALLBACK_URL": "oidc_authentication_callback",
    }

    def __getattr__(self, name: str):
        if name.startswith("OIDC_"):
            return provider_setting(name, *([self._DEFAULTS[name]] if name in self._DEFAULTS else []))
        raise AttributeError(name)


def _unavailable(request, exc: Exception):
    """The page a person sees when the provider is down: 503, no session. The cause goes to the log only
    (it may name internal addresses)."""
    logger.warning("single sign-on unavailable: %s", exc)
    if request.user.is_authenticated:
        auth.logout(request)
    return render(
        request, "registration/oidc_unavailable.html", {"provider": settings.OIDC_PROVIDER_NAME}, status=503
    )


class ProviderBackend(_LazySettings, oidc_auth.OIDCAuthenticationBackend):
    """Authenticates the provider's callback; answers nothing to a password login or without OIDC_ISSUER."""

    def __init__(self, *args, **kwargs):
        from django.contrib.auth import get_user_model

        self.UserModel = get_user_model()

    def authenticate(self, request, **kwargs):
        if not oidc.enabled() or request is None or "nonce" not in kwargs:
            return None
        try:
            with transaction.atomic():
                return super().authenticate(request, **kwargs)
        except RequestException as exc:
            raise oidc.ProviderUnavailable(f"the provider did not answer: {exc}") from exc
        except (oidc.InvalidToken, SuspiciousOperation) as exc:
            logger.warning("single sign-on refused: %s", exc)
            return None  # the callback sends the browser to the login page, which says so

    def verify_token(self, token, **kwargs):
        return oidc.decode(token, audience=settings.OIDC_CLIENT_ID, nonce=kwargs.get("nonce"))

    def get_userinfo(self, access_token, id_token, payload):
        """The ID token's claims, completed by the userinfo endpoint's when the provider has one."""
        claims = dict(payload)
        if oidc.metadata().get("userinfo_endpoint"):
            claims.update(super().get_userinfo(access_token, id_token, payload))
        return claims

    def verify_claims(self, claims):
        return bool(claims.get("sub"))

    def get_or_create_user(self, access_token, id_token, payload):
        claims = self.get_userinfo(access_token, id_token, payload)
        if claims.get("sub") != payload.get("sub"):
            return None  # OpenID Connect Core 5.3.2: userinfo of another subject is refused
        try:
            return oidc_users.user_for_claims(claims=claims, from_login=True)
        except oidc_users.UnknownServiceAccount:
            return None


class AuthenticationRequestView(_LazySettings, oidc_views.OIDCAuthenticationRequestView):
    """Sends the browser to the provider's sign-in page; a clear 503 page if the provider is down."""

    def __init__(self, **kwargs):
        oidc_views.View.__init__(self, **kwargs)

    def get(self, request):
        if not oidc.enabled():
            raise Http404("Single sign-on is not configured.")
        try:
            return super().get(request)
        except oidc.ProviderUnavailable as exc:
            return _unavailable(request, exc)


class AuthenticationCallbackView(_LazySettings, oidc_views.OIDCAuthenticationCallbackView):
    """The provider's answer: signs the user in, or shows why not (no session, nothing created)."""

    def get(self, request):
        try:
            return super().get(request)
        except oidc.ProviderUnavailable as exc:
            return _unavailable(request, exc)


def _is_htmx(request: HttpRequest) -> bool:
    # Read from the header: this middleware runs before django-htmx's sets ``request.htmx``.
    return request.headers.get("HX-Request") == "true"


def _page_behind(request: HttpRequest) -> str:
    """Where to come back after a refresh that fell due on an htmx request: the page shown in the
    browser (``HX-Current-URL``), not the fragment it was fetching; for a boosted link, its target.
    Only a path on this site (the callback redirects there without checking again)."""
    if request.headers.get("HX-Boosted") == "true":
        return request.get_full_path()
    current = request.headers.get("HX-Current-URL", "")
    if url_has_allowed_host_and_scheme(
        current, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        parts = urlsplit(current)
        return urlunsplit(("", "", parts.path or "/", parts.query, ""))
    return "/"


class SessionRefresh(_LazySettings, oidc_middleware.SessionRefresh):
    """mozilla-django-oidc's refresh, idle without single sign-on and for password sessions.

    When the refresh falls due on an htmx request, mozilla-django-oidc's 302 to the provider would
    be followed by htmx's XMLHttpRequest, which cannot sign in anywhere (the provider is another
    origin): the fragment silently fails. htmx is answered ``200`` with ``HX-Redirect`` instead, so
    the browser itself goes to the provider and comes back to the page it was showing. Plain
    requests keep the 302, and other scripts sending ``X-Requested-With: XMLHttpRequest`` keep
    mozilla-django-oidc's 403 with ``refresh_url``.
    """

    def __init__(self, get_response):
        oidc_middleware.MiddlewareMixin.__init__(self, get_response)

    def process_request(self, request):
        if not oidc.enabled() or request.path.startswith("/api/"):  # the API has its own tokens
            return None
        if request.session.get(auth.BACKEND_SESSION_KEY) != "config.oidc_login.ProviderBackend":
            return None
        try:
            response = super().process_request(request)
        except oidc.ProviderUnavailable as exc:
            response = _unavailable(request, exc)  # signed out: htmx goes to the login page
            if _is_htmx(request):
                login = reverse("login") + "?" + urlencode({"next": _page_behind(request)})
                return HttpResponseClientRedirect(login)
            return response
        if response is None or not _is_htmx(request):
            return response
        # The provider's address, from the 302 (or from the 403 when X-Requested-With came too).
        provider_url = response.get("refresh_url") or response["Location"]
        request.session["oidc_login_next"] = _page_behind(request)
        return HttpResponseClientRedirect(provider_url)


def login_options(request) -> dict:
    """Template context: whether the login page offers the provider and the password form."""
    return {
        "sso_enabled": oidc.enabled(),
        "sso_provider": settings.OIDC_PROVIDER_NAME,
        "local_login": "django.contrib.auth.backends.ModelBackend" in settings.AUTHENTICATION_BACKENDS,
    }
