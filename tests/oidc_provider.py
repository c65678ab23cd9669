"""A local OpenID provider for the tests: a real HTTP server in a thread, tokens signed with real keys.

Serves discovery, JWKS, authorize (a sign-in form, and ``prompt=none`` from its own cookie), token
(authorization code with PKCE, and client credentials) and userinfo. RSA keys are made at start;
``rotate()`` adds a new one. Users can be disabled; ``jwks_fetches`` counts the key set's readers.

Werkzeug (already here with moto's server) carries the HTTP; PyJWT signs the tokens.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlencode

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

CLIENT_ID = "gouvernail"
CLIENT_SECRET = "client-secret-for-tests"
PIPELINE_ID = "training-pipeline"
PIPELINE_SECRET = "pipeline-secret-for-tests"


@dataclass
class ProviderUser:
    username: str
    password: str
    email: str
    groups: list[str] | None
    enabled: bool = True
    sub: str = field(default_factory=lambda: str(uuid.uuid4()))


class Provider:
    """The provider's state and its WSGI application."""

    def __init__(self) -> None:
        self.url = ""
        self.keys: list[tuple[str, rsa.RSAPrivateKey]] = []
        self.users: dict[str, ProviderUser] = {}
        self.clients = {CLIENT_ID: CLIENT_SECRET, PIPELINE_ID: PIPELINE_SECRET}
        self.codes: dict[str, dict] = {}
        self.sessions: dict[str, str] = {}
        self.access: dict[str, str] = {}
        self.jwks_fetches = 0
        self.id_token_audience = CLIENT_ID  # a test may make the provider misissue ID tokens
        self.rotate()

    # -- keys and tokens ------------------------------------------------------------------
    def rotate(self) -> str:
        kid = f"key-{len(self.keys) + 1}-{secrets.token_hex(3)}"
        self.keys.append((kid, rsa.generate_private_key(public_exponent=65537, key_size=2048)))
        return kid

    @property
    def kid(self) -> str:
        return self.keys[-1][0]

    def jwks(self) -> dict:
        entries = []
        for kid, key in self.keys:
            entry = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            entry.update(kid=kid, use="sig", alg="RS256")
            entries.append(entry)
        return {"keys": entries}

    def sign(
        self, claims: dict, *, kid: str | None = None, key=None, algorithm: str = "RS256", headers=None
    ) -> str:
        kid = kid or self.kid
        if key is None:
            key = dict(self.keys)[kid]
        return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid, **(headers or {})})

    def claims(
        self, user: ProviderUser | None = None, *, audience: str = CLIENT_ID, ttl: int = 300, **extra
    ) -> dict:
        now = int(time.time())
        out = {"iss": self.url, "aud": audience, "iat": now, "exp": now + ttl}
        if user is not None:
            out.update(sub=user.sub, preferred_username=user.username, email=user.email)
            if user.groups is not None:
                out["groups"] = list(user.groups)
        out.update(extra)
        return out

    def access_token(self, user: ProviderUser | None = None, **kw) -> str:
        return self.sign(self.claims(user, **kw))

    def client_token(self, client_id: str = PIPELINE_ID, **kw) -> str:
        return self.sign(self.claims(None, sub=client_id, client_id=client_id, azp=client_id, **kw))

    def add_user(self, username: str, *, groups: list[str] | None = None, email: str = "") -> ProviderUser:
        user = ProviderUser(username, "pw-" + username, email or f"{username}@example.com", groups)
        self.users[username] = user
        return user

    # -- HTTP -----------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        request = Request(environ)
        route = {
            "/.well-known/openid-configuration": self.discovery,
            "/jwks": self.serve_jwks,
            "/authorize": self.authorize,
            "/token": self.token,
            "/userinfo": self.userinfo,
        }.get(request.path)
        response = route(request) if route else Response("not found", status=404)
        return response(environ, start_response)

    def discovery(self, request) -> Response:
        doc = {
            "issuer": self.url,
            "authorization_endpoint": self.url + "/authorize",
            "token_endpoint": self.url + "/token",
            "userinfo_endpoint": self.url + "/userinfo",
            "jwks_uri": self.url + "/jwks",
            "id_token_signing_alg_values_supported": ["RS256"],
        }
        return Response(json.dumps(doc), mimetype="application/json")

    def serve_jwks(self, request) -> Response:
        self.jwks_fetches += 1
        return Response(json.dumps(self.jwks()), mimetype="application/json")

    def _redirect_with(self, params: dict, extra: dict) -> Response:
        sep = "&" if "?" in params["redirect_uri"] else "?"
        return Response(status=302, headers={"Location": params["redirect_uri"] + sep + urlencode(extra)})

    def _issue_code(self, params: dict, user: ProviderUser) -> Response:
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"user": user.username, **params}
        return self._redirect_with(params, {"code": code, "state": params["state"]})

    def authorize(self, request) -> Response:
        params = dict(request.values)
        if params.get("client_id") not in self.clients:
            return Response("unknown client", status=400)
        signed_in = self.users.get(self.sessions.get(request.cookies.get("op_session", ""), ""))
        if request.method == "POST":
            user = self.users.get(params.pop("username", ""))
            if user is None or user.password != params.pop("password", "") or not user.enabled:
                return self._form(params, error="Wrong username or password.")
            sid = secrets.token_urlsafe(16)
            self.sessions[sid] = user.username
            response = self._issue_code(params, user)
            response.set_cookie("op_session", sid, httponly=True)
            return response
        if params.get("prompt") == "none":
            if signed_in is None or not signed_in.enabled:
                return self._redirect_with(
                    params, {"error": "login_required", "state": params.get("state", "")}
                )
            return self._issue_code(params, signed_in)
        return self._form(params)

    def _form(self, params: dict, error: str = "") -> Response:
        hidden = "".join(
            f'<input type="hidden" name="{k}" value="{v}">'
            for k, v in params.items()
            if k not in ("username", "password")
        )
        body = (
            "<!doctype html><title>Test provider</title><h1>Test provider sign-in</h1>"
            f"<p>{error}</p><form method=post action=/authorize>{hidden}"
            '<label>Provider username <input name="username"></label>'
            '<label>Provider password <input type="password" name="password"></label>'
            "<button>Continue</button></form>"
        )
        return Response(body, mimetype="text/html")

    def _client(self, request) -> str | None:
        client_id, secret = request.form.get("client_id"), request.form.get("client_secret")
        if request.authorization and request.authorization.type == "basic":
            client_id, secret = request.authorization.username, request.authorization.password
        return client_id if client_id in self.clients and self.clients[client_id] == secret else None

    def token(self, request) -> Response:
        client_id = self._client(request)
        if client_id is None:
            return Response(json.dumps({"error": "invalid_client"}), status=401, mimetype="application/json")
        if request.form.get("grant_type") == "client_credentials":
            body = {"access_token": self.client_token(client_id, audience=CLIENT_ID), "token_type": "Bearer"}
            return Response(json.dumps(body), mimetype="application/json")
        grant = self.codes.pop(request.form.get("code", ""), None)
        if grant is None or grant["redirect_uri"] != request.form.get("redirect_uri"):
            return Response(json.dumps({"error": "invalid_grant"}), status=400, mimetype="application/json")
        verifier = request.form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if grant.get("code_challenge") and challenge != grant["code_challenge"]:
            return Response(json.dumps({"error": "invalid_grant"}), status=400, mimetype="application/json")
        user = self.users[grant["user"]]
        access = self.access_token(user)
        self.access[access] = user.username
        id_token = self.sign(self.claims(user, audience=self.id_token_audience, nonce=grant.get("nonce")))
        body = {"access_token": access, "id_token": id_token, "token_type": "Bearer", "expires_in": 300}
        return Response(json.dumps(body), mimetype="application/json")

    def userinfo(self, request) -> Response:
        header = request.headers.get("Authorization", "")
        user = self.users.get(self.access.get(header.removeprefix("Bearer "), ""))
        if user is None:
            return Response(status=401)
        return Response(json.dumps(self.claims(user)), mimetype="application/json")


class _Server(threading.Thread):
    def __init__(self, app: Provider) -> None:
        super().__init__(daemon=True)
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        app.url = f"http://127.0.0.1:{self.server.server_port}"

    def run(self) -> None:
        self.server.serve_forever()


def closed_port_url() -> str:
    """An address where nothing listens: a provider that is down."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def configure(settings, url: str, *, local_login: bool = True) -> None:
    """Points the pytest-django ``settings`` at a provider and forgets the cached discovery and keys."""
    from config import oidc

    settings.OIDC_ISSUER = url
    settings.OIDC_DISCOVERY_URL = url + "/.well-known/openid-configuration"
    settings.OIDC_CLIENT_ID = CLIENT_ID
    settings.OIDC_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_AUDIENCE = CLIENT_ID
    settings.OIDC_TIMEOUT_SECONDS = 2.0
    if not local_login:
        settings.AUTHENTICATION_BACKENDS = [
            b for b in settings.AUTHENTICATION_BACKENDS if not b.endswith("ModelBackend")
        ]
    oidc.forget()


@pytest.fixture(scope="session")
def oidc_server():
    """The provider, serving for the whole session (tests add their own users)."""
    app = Provider()
    server = _Server(app)
    server.start()
    yield app
    server.server.shutdown()


@pytest.fixture
def oidc_provider(oidc_server, settings):
    """The running provider, with Gouvernail's OIDC_* settings pointing at it for this test."""
    configure(settings, oidc_server.url)
    yield oidc_server
    from config import oidc

    oidc.forget()
