"""Training clearance for pipelines, with nothing but the standard library.

Call it before reading a byte::

    from governance.client import ClearanceDenied, require_clearance

    try:
        require_clearance(
            ["dataset:s3://lake:claims/2024", "dataset:postgres://db:5432:public.members"],
            "training",
        )  # GOUVERNAIL_URL and GOUVERNAIL_TOKEN come from the environment
    except ClearanceDenied as denied:
        print(denied)            # one line per refused dataset, with its reasons
        raise SystemExit(1)

The module imports nothing from Django, so a pipeline can copy this one file.
"""

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from typing import Any


class ClearanceError(Exception):
    """The clearance question could not be answered (bad input, no credentials, server down)."""

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class ClearanceDenied(ClearanceError):
    """The answer is no. ``answer`` is the whole response; ``reasons`` maps each refused URN to its reasons."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        refused = [d for d in answer.get("datasets", []) if not d.get("allowed")]
        self.reasons: dict[str, list[str]] = {d["urn"]: list(d.get("reasons", [])) for d in refused}
        self.upstream_blockers: dict[str, list[str]] = {
            d["urn"]: list(d.get("upstream_blockers", [])) for d in refused
        }
        lines = [
            f"{answer.get('principal')} is not cleared for {answer.get('purpose')} "
            f"on {len(refused)} of {len(answer.get('datasets', []))} dataset(s):"
        ]
        for d in refused:
            lines.append(f"  {d['urn']}: " + "; ".join(d.get("reasons", [])))
        super().__init__("\n".join(lines), 200, answer)


def require_clearance(
    datasets: Iterable[str] | str,
    purpose: str = "training",
    *,
    principal: str | None = None,
    base_url: str | None = None,
    token: str | None = None,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Ask Gouvernail whether ``principal`` (default: the token's user) may use ``datasets`` for ``purpose``.

    Returns the answer when every dataset is cleared; raises ClearanceDenied (with the reasons)
    when one is not, and ClearanceError when the question itself fails.
    """
    urns = [datasets] if isinstance(datasets, str) else list(datasets)
    base_url = (base_url or os.environ.get("GOUVERNAIL_URL") or "").rstrip("/")
    token = token or os.environ.get("GOUVERNAIL_TOKEN")
    if not base_url:
        raise ClearanceError("Set GOUVERNAIL_URL (e.g. https://gouvernail.example.org) or pass base_url.")
    if not token:
        raise ClearanceError("Set GOUVERNAIL_TOKEN (python manage.py drf_create_token <user>) or pass token.")
    # One datasets= parameter per URN: a name may hold a comma (Hive partitions).
    params: dict[str, Any] = {"datasets": urns, "purpose": purpose}
    if principal:
        params["principal"] = principal
    url = f"{base_url}/api/v1/clearance?{urllib.parse.urlencode(params, doseq=True)}"
    if not url.startswith(("http://", "https://")):
        raise ClearanceError(f"GOUVERNAIL_URL must be http(s): {base_url}")
    req = urllib.request.Request(  # noqa: S310 - scheme checked just above
        url, headers={"Authorization": f"Token {token}", "Accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            answer = json.loads(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read().decode("utf-8"))
        except ValueError:
            body = None
        detail = body.get("detail") if isinstance(body, dict) else exc.reason
        raise ClearanceError(f"Clearance question refused ({exc.code}): {detail}", exc.code, body) from exc
    except urllib.error.URLError as exc:
        raise ClearanceError(f"Cannot reach Gouvernail at {base_url}: {exc.reason}") from exc
    if not answer.get("allowed"):
        raise ClearanceDenied(answer)
    return answer
