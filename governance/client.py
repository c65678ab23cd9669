"""Gouvernail's API for pipelines, with nothing but the standard library.

Ask for clearance before reading a byte::

    from governance.client import ClearanceDenied, require_clearance

    try:
        require_clearance(
            ["dataset:s3://lake:claims/2024", "dataset:postgres://db:5432:public.members"],
            "training",
        )  # GOUVERNAIL_URL and GOUVERNAIL_TOKEN come from the environment
    except ClearanceDenied as denied:
        print(denied)            # one line per refused dataset (or model), with its reasons
        raise SystemExit(1)

and before shipping a model, ``require_clearance(models=["model:mlflow://mlflow:5000:churn@3"],
purpose="deployment")``. ``Client`` makes any other call (``Client().call("POST", "/api/v1/models/",
body={...})``); the ``gouvernail`` command (governance/cli.py) is built on it.

The module imports nothing from Django, so a pipeline can copy this one file.
"""

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from typing import Any


class GouvernailError(Exception):
    """A call could not be answered (bad input, no credentials, not allowed, server down).

    ``status`` is the HTTP status (None when no answer came), ``body`` the error's JSON
    (``{"detail", "errors"}``) when there was one."""

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


# The name pipelines written against the first version of this module catch.
ClearanceError = GouvernailError


class ClearanceDenied(GouvernailError):
    """The answer is no. ``answer`` is the whole response; ``reasons`` maps each refused URN (dataset
    or model) to its reasons."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        refused = [d for d in answer.get("datasets", []) if not d.get("allowed")]
        models = [m for m in answer.get("models", []) if not m.get("allowed")]
        self.reasons: dict[str, list[str]] = {
            d["urn"]: list(d.get("reasons", [])) for d in [*models, *refused]
        }
        self.upstream_blockers: dict[str, list[str]] = {
            d["urn"]: list(d.get("upstream_blockers", [])) for d in refused
        }
        if "models" in answer:
            head = f"on {len(models)} of {len(answer['models'])} model(s):"
        else:
            head = f"on {len(refused)} of {len(answer.get('datasets', []))} dataset(s):"
        lines = [f"{answer.get('principal')} is not cleared for {answer.get('purpose')} {head}"]
        for m in models:
            lines.append(f"  {m['urn']}:")
            lines.extend(f"    - {r}" for r in m.get("reasons", []))
        for d in refused:
            lines.append(f"  {d['urn']}: " + "; ".join(d.get("reasons", [])))
        super().__init__("\n".join(lines), 200, answer)


def _describe(body: Any, fallback: str) -> str:
    """An error answer in one line: its detail, then each field's messages not already in it."""
    if not isinstance(body, dict):
        return fallback
    detail = str(body.get("detail") or fallback)
    errors = body.get("errors") if isinstance(body.get("errors"), dict) else {}
    extra = []
    for field, messages in errors.items():
        text = "; ".join(map(str, messages)) if isinstance(messages, list) else str(messages)
        if text and text not in detail:
            extra.append(f"{field}: {text}")
    return " ".join([detail, *extra])


class Client:
    """Authenticated JSON calls to one Gouvernail server.

    ``base_url`` and ``token`` default to GOUVERNAIL_URL and GOUVERNAIL_TOKEN; a missing one is a
    GouvernailError at the first call, naming the variable."""

    def __init__(self, base_url: str | None = None, token: str | None = None, timeout: float = 30.0) -> None:
        self.base_url = (base_url or os.environ.get("GOUVERNAIL_URL") or "").rstrip("/")
        self.token = token or os.environ.get("GOUVERNAIL_TOKEN")
        self.timeout = timeout

    def call(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        """``method path`` → the answer's JSON (None when empty); any refusal or failure raises
        GouvernailError with the status and the server's reasons."""
        if not self.base_url:
            raise GouvernailError(
                "Set GOUVERNAIL_URL (e.g. https://gouvernail.example.org) or pass base_url."
            )
        if not self.token:
            raise GouvernailError(
                "Set GOUVERNAIL_TOKEN (python manage.py drf_create_token <user>) or pass token."
            )
        url = f"{self.base_url}{path}"
        if params:
            # A list becomes one parameter per item: a URN may hold a comma (Hive partitions).
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        if not url.startswith(("http://", "https://")):
            raise GouvernailError(f"GOUVERNAIL_URL must be http(s): {self.base_url}")
        headers = {"Authorization": f"Token {self.token}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - checked
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            try:
                err = json.loads(exc.read().decode("utf-8"))
            except ValueError:
                err = None
            what = _describe(err, str(exc.reason))
            raise GouvernailError(f"{method} {path} refused ({exc.code}): {what}", exc.code, err) from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise GouvernailError(f"Cannot reach Gouvernail at {self.base_url}: {reason}") from exc
        if not raw:
            return None
        try:
            return json.loads(raw.decode("utf-8"))
        except ValueError as exc:
            raise GouvernailError(
                f"{method} {path}: the answer is not JSON (is {self.base_url} Gouvernail?)"
            ) from exc


def clearance(
    client: Client,
    *,
    datasets: Iterable[str] | str | None = None,
    models: Iterable[str] | str | None = None,
    purpose: str = "training",
    principal: str | None = None,
) -> dict[str, Any]:
    """The clearance answer as the server gives it, cleared or not (``GET /api/v1/clearance``).

    Each item of ``datasets`` or ``models`` is sent as one parameter; one string alone is sent as
    given, which the server splits at the commas that start another URN."""
    params: dict[str, Any] = {"purpose": purpose}
    for key, value in (("datasets", datasets), ("models", models)):
        if value is not None:
            params[key] = [value] if isinstance(value, str) else list(value)
    if principal:
        params["principal"] = principal
    answer = client.call("GET", "/api/v1/clearance", params=params)
    if not isinstance(answer, dict) or "allowed" not in answer:
        raise GouvernailError("The clearance answer has no 'allowed' field.", 200, answer)
    return answer


def require_clearance(
    datasets: Iterable[str] | str | None = None,
    purpose: str = "training",
    *,
    models: Iterable[str] | str | None = None,
    principal: str | None = None,
    base_url: str | None = None,
    token: str | None = None,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Ask Gouvernail whether ``principal`` (default: the token's user) may use ``datasets`` for
    ``purpose``, or (``purpose="deployment"``) whether ``models`` may be deployed.

    Returns the answer when everything is cleared; raises ClearanceDenied (with the reasons)
    when something is not, and GouvernailError (ClearanceError) when the question itself fails.
    """
    if isinstance(datasets, str):
        datasets = [datasets]
    answer = clearance(
        Client(base_url, token, timeout),
        datasets=datasets,
        models=models,
        purpose=purpose,
        principal=principal,
    )
    if not answer.get("allowed"):
        raise ClearanceDenied(answer)
    return answer
