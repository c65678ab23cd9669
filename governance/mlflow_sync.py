"""MLflow's model registry, synced through MLflow's own client: each registered model version
becomes a model version here (namespace ``mlflow://host[:port]``, name = the registered model's name,
version = MLflow's version number), with its run's dataset inputs matched to the catalog
(governance.mlflow_inputs) and the clearance at registration; the verdict and the card's URL are
written back to MLflow as the tags ``gouvernail.clearance`` and ``gouvernail.card``.

Idempotent: a version already registered here whose tags in MLflow already say what they should
costs no write at all, here or in MLflow. Each new version is stored in its own transaction (the
registration, its origin, its audit record and event); its tags are written after the commit, and a
tag write that failed is done again by the next sync (which compares with MLflow's tags, not ours).
The job around it (one at a time, under a lease) is governance.mlflow_jobs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlparse

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.urls import reverse

from config.errors import Conflict, NotAllowed
from governance.mlflow_inputs import match_run_inputs
from governance.models import MlflowOrigin, ModelVersion, RegisteredModel, Via
from governance.registry import register_model_version

log = logging.getLogger(__name__)

TAG_CLEARANCE = "gouvernail.clearance"
TAG_CARD = "gouvernail.card"
PAGE_SIZE = 1000  # model versions per search page (MLflow's servers accept up to 10,000)
RUN_BATCH = 100  # run ids (and experiment ids) per search of runs
COMMIT_EVERY = 50  # versions stored per transaction (a savepoint each)
TAG_WRITERS = 4  # threads writing tags to an HTTP tracking server
MAX_TAG_VALUE = 5000  # MLflow's limit on a model version tag's value
NOT_CONFIGURED = (
    "MLflow sync is unavailable: set MLFLOW_TRACKING_URI (and MLFLOW_TRACKING_USERNAME/PASSWORD or "
    "MLFLOW_TRACKING_TOKEN when the server asks for them) in the environment."
)


class Unavailable(Conflict):
    """No tracking URI is configured (→ 409)."""


class SyncFailed(Exception):
    """MLflow could not be read at all (down, answering errors): nothing was stored."""


def configured_uri() -> str:
    """The tracking URI from the settings (MLFLOW_TRACKING_URI), or Unavailable."""
    uri = (getattr(settings, "MLFLOW_TRACKING_URI", "") or "").strip()
    if not uri:
        raise Unavailable(NOT_CONFIGURED, {"mlflow": ["MLFLOW_TRACKING_URI is not set."]})
    return uri


def shown_uri(uri: str) -> str:
    """The tracking URI without credentials (a URI may carry user:password@)."""
    parsed = urlparse(uri)
    if parsed.password is None and parsed.username is None:
        return uri
    host = parsed.hostname or ""
    netloc = f"{host}:{parsed.port}" if parsed.port else host
    return parsed._replace(netloc=netloc).geturl()


def namespace_for(uri: str) -> str:
    """The models' namespace: ``mlflow://host[:port]`` of the tracking URI. A store without a host
    (a file store, an SQLite file: on this machine) is ``mlflow://localhost``; Databricks is
    ``mlflow://databricks`` (its workspace comes from the profile, not the URI)."""
    parsed = urlparse(uri)
    if parsed.scheme == "databricks":
        return "mlflow://databricks"
    host = parsed.hostname
    if not host:
        return "mlflow://localhost"
    try:
        port = parsed.port
    except ValueError:
        port = None
    return f"mlflow://{host}:{port}" if port else f"mlflow://{host}"


def client_for(uri: str):
    """MLflow's own client on the tracking (and registry) URI; it reads credentials from the
    environment itself."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _mlflow_errors() -> tuple[type[BaseException], ...]:
    """What MLflow's client raises when the server is down, refuses or answers an error."""
    import requests
    from mlflow.exceptions import MlflowException

    return (MlflowException, requests.RequestException, OSError)


def reach_error(uri: str, exc: BaseException) -> str:
    """A clear sentence for an MLflow that could not be read."""
    text = " ".join(str(exc).split())[:500] or type(exc).__name__
    return f"MLflow at {shown_uri(uri)} could not be read: {text}"


def all_versions(client) -> list[Any]:
    """Every registered model version, oldest first (by model name, then version number)."""
    found, token = [], None
    while True:
        page = client.search_model_versions(max_results=PAGE_SIZE, page_token=token)
        found.extend(page)
        token = getattr(page, "token", None)
        if not token:
            break
    return sorted(found, key=lambda v: (v.name, int(v.version)))


def card_url(mv: ModelVersion) -> str:
    """The absolute URL of the model version's card (its page) on this site."""
    return f"{settings.SITE_URL}{reverse('governance:model', kwargs={'pk': mv.pk})}"


def clearance_tag(mv: ModelVersion) -> str:
    """``cleared``, or ``refused: `` and the reasons, as recorded at registration."""
    if mv.cleared:
        return "cleared"
    answer = mv.clearance or {}
    reasons = [u.get("reason", "") for u in answer.get("unknown_data", [])]
    for ds in answer.get("datasets", []):
        if not ds.get("allowed"):
            reasons.extend(f"{ds.get('urn')}: {r}" for r in ds.get("reasons", []))
    text = "; ".join(r for r in reasons if r) or "not cleared for training"
    return f"refused: {text}"[:MAX_TAG_VALUE]


def wanted_tags(mv: ModelVersion) -> dict[str, str]:
    return {TAG_CLEARANCE: clearance_tag(mv), TAG_CARD: card_url(mv)}


@dataclass
class Counts:
    """What a sync did, as its job reports it."""

    seen: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    unknown_inputs: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)


def _owner_for(model: RegisteredModel | None, user_id: str):
    """Whose clearance is recorded: the model's owner here, else the user MLflow names as the version's
    creator when one has that username, else nobody (then only data that needs no approval clears)."""
    if model is not None and model.owner_id:
        return model.owner
    if user_id:
        return get_user_model().objects.filter(username=user_id, is_active=True).first()
    return None


def prefetch_runs(client, run_ids: list[str]) -> dict[str, Any]:
    """The runs of these ids, with their inputs, in a few searches rather than a request each
    (1,000 new versions: about 10 requests, not 1,000). A run not found here is read alone later."""
    from mlflow.entities import ViewType

    wanted = list(dict.fromkeys(r for r in run_ids if r and "'" not in r))
    if not wanted:
        return {}
    experiments = [
        e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL, max_results=1000)
    ]
    found: dict[str, Any] = {}
    for e in range(0, len(experiments), RUN_BATCH):
        for i in range(0, len(wanted), RUN_BATCH):
            ids = ", ".join(f"'{r}'" for r in wanted[i : i + RUN_BATCH])
            runs = client.search_runs(
                experiments[e : e + RUN_BATCH],
                filter_string=f"attributes.run_id IN ({ids})",
                run_view_type=ViewType.ALL,
                max_results=RUN_BATCH,
            )
            found.update((r.info.run_id, r) for r in runs)
    return found


def _run_inputs(
    client, run_id: str, runs: dict[str, Any], memo: dict | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(facts of the run, its matched inputs). A version without a run, or a run that logged no
    dataset input, has unknown data: what it was trained on cannot be said."""
    if not run_id:
        return {}, [_no_inputs("The model version names no MLflow run.")]
    run = runs.get(run_id) or client.get_run(run_id)
    started = datetime.fromtimestamp((run.info.start_time or 0) / 1000, tz=UTC)
    facts = {"experiment_id": run.info.experiment_id or ""}
    dataset_inputs = list(getattr(run.inputs, "dataset_inputs", None) or [])
    if not dataset_inputs:
        return facts, [_no_inputs("The run logged no dataset inputs (mlflow.log_input).")]
    return facts, match_run_inputs(dataset_inputs, started, memo)


def _no_inputs(reason: str) -> dict[str, Any]:
    return {"name": "", "digest": "", "source_type": "", "source": "", "context": "", "urn": None} | {
        "version": None,
        "method": "",
        "reason": reason,
    }


def _public(inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in i.items() if not k.startswith("_")} for i in inputs]


@transaction.atomic
def register_from_mlflow(
    *, namespace: str, tracking_uri: str, found: Any, run: dict, inputs: list
) -> ModelVersion:
    """Register one MLflow model version here with its origin, in one transaction."""
    model = RegisteredModel.objects.filter(namespace=namespace, name=found.name).first()
    refs = [f"{i['urn']}@{i['version']}" if i["version"] else i["urn"] for i in inputs if i["urn"]]
    unknown = [{"name": i["name"], "reason": i["reason"]} for i in inputs if not i["urn"]]
    mv = register_model_version(
        actor=None,
        principal=_owner_for(model, getattr(found, "user_id", "") or ""),
        namespace=namespace,
        name=found.name,
        version=str(found.version),
        trained_on=refs,
        run_id=(found.run_id or "")[:100],
        via=Via.MLFLOW,
        unknown=unknown,
    )
    MlflowOrigin.objects.create(
        model_version=mv,
        tracking_uri=shown_uri(tracking_uri)[:500],
        registered_name=found.name,
        mlflow_version=str(found.version),
        run_id=found.run_id or "",
        experiment_id=run.get("experiment_id", ""),
        inputs=_public(inputs),
        unknown_inputs=len(unknown),
        tags=wanted_tags(mv),
    )
    return mv


def _write_tags(client, found: Any, tags: dict[str, str]) -> None:
    for key, value in tags.items():
        client.set_model_version_tag(found.name, str(found.version), key, value)


def _known(namespace: str) -> dict[tuple[str, str], ModelVersion]:
    """The model versions of this namespace already here, by (name, version), in one query."""
    rows = ModelVersion.objects.filter(model__namespace=namespace).select_related("model")
    return {(mv.model.name, mv.version): mv for mv in rows}


def sync_version(
    client,
    *,
    namespace: str,
    tracking_uri: str,
    found: Any,
    known: dict,
    runs: dict | None = None,
    write: Callable[[Any, dict[str, str]], None] | None = None,
    memo: dict | None = None,
) -> tuple[str, int]:
    """One MLflow model version → ("created" | "updated" | "unchanged", unknown inputs found).

    ``write(found, tags)`` writes the tags to MLflow (default: now, here; ``sync`` hands them to a
    writer thread, so that MLflow's answers overlap with the next version's registration)."""
    write = write or (lambda f, tags: _write_tags(client, f, tags))
    mv = known.get((found.name, str(found.version)))
    if mv is None:
        run, inputs = _run_inputs(client, found.run_id or "", runs or {}, memo)
        mv = register_from_mlflow(
            namespace=namespace, tracking_uri=tracking_uri, found=found, run=run, inputs=inputs
        )
        write(found, wanted_tags(mv))
        return "created", sum(1 for i in inputs if not i["urn"])
    wanted = wanted_tags(mv)
    current = dict(getattr(found, "tags", None) or {})
    missing = {k: v for k, v in wanted.items() if current.get(k) != v}
    if not missing:
        return "unchanged", 0
    write(found, missing)  # removed or edited in MLflow, or SITE_URL moved
    return "updated", 0


def _read(uri: str, read: Callable[[], Any]) -> Any:
    try:
        return read()
    except _mlflow_errors() as exc:
        raise SyncFailed(reach_error(uri, exc)) from exc


def sync(*, uri: str | None = None, beat: Callable[[Counts], None] | None = None) -> Counts:
    """Sync every registered model version of the configured MLflow (or ``uri``) → what it did.

    MLflow unreachable, or answering errors, while listing: SyncFailed, nothing stored. A version
    whose run cannot be read or that cannot be registered is an error of its own (nothing of it is
    stored); the others go on, and the next sync tries it again."""
    uri = uri or configured_uri()
    client = client_for(uri)
    namespace = namespace_for(uri)
    counts = Counts()
    found_all = _read(uri, lambda: all_versions(client))
    known = _known(namespace)
    new = [v.run_id for v in found_all if (v.name, str(v.version)) not in known]
    runs = _read(uri, lambda: prefetch_runs(client, new))
    memo: dict = {}  # the inputs' matches, shared by the versions of this sync
    # Tags are written by other threads (several for an HTTP server, one for a local store, whose
    # writes take turns anyway) while this one registers the next versions.
    writers = TAG_WRITERS if urlparse(uri).scheme in ("http", "https") else 1
    pending: list[tuple[Any, Future]] = []
    with ThreadPoolExecutor(max_workers=writers, thread_name_prefix="mlflow-tags") as pool:
        for start in range(0, len(found_all), COMMIT_EVERY):
            page = found_all[start : start + COMMIT_EVERY]
            staged = _sync_page(
                client, counts, page, namespace=namespace, uri=uri, known=known, runs=runs, memo=memo
            )
            # Committed: now MLflow may say so (a tag never names a registration that was rolled back).
            pending.extend((found, pool.submit(_write_tags, client, found, tags)) for found, tags in staged)
            if beat is not None:
                beat(counts)
    for found, future in pending:
        if future.exception() is not None:  # stored here; the next sync writes its tags
            counts.errors.append(_error(found, "Tags not written: " + reach_error(uri, future.exception())))
    return counts


def _sync_page(client, counts: Counts, page: list, **kwargs) -> list[tuple[Any, dict[str, str]]]:
    """Sync a page of versions in one transaction (one commit rather than one per version; each
    version in a savepoint of its own, so that a version that fails is rolled back alone) → the tags
    to write once it has committed. A commit that fails stores none of the page: an error each."""
    staged: list[tuple[Any, dict[str, str]]] = []
    mine = Counts()
    try:
        with transaction.atomic():
            for found in page:
                mine.seen += 1
                _one(client, mine, found=found, write=lambda f, tags: staged.append((f, tags)), **kwargs)
    except DatabaseError as exc:
        counts.seen += len(page)
        counts.errors.extend(_error(f, f"Not stored (the page's commit failed): {exc}") for f in page)
        return []
    for name in ("seen", "created", "updated", "unchanged", "unknown_inputs"):
        setattr(counts, name, getattr(counts, name) + getattr(mine, name))
    counts.errors.extend(mine.errors)
    return staged


def _one(client, counts: Counts, *, uri: str, found: Any, **kwargs) -> None:
    try:
        with transaction.atomic():  # a savepoint inside the page's transaction: this version alone
            outcome, unknown = sync_version(client, tracking_uri=uri, found=found, **kwargs)
    except DatabaseError as exc:
        counts.errors.append(_error(found, f"Not stored: {exc}"))
    except _mlflow_errors() as exc:
        counts.errors.append(_error(found, reach_error(uri, exc)))
    except (ValidationError, Conflict, NotAllowed) as exc:
        counts.errors.append(_error(found, "; ".join(getattr(exc, "messages", None) or [str(exc)])))
    else:
        setattr(counts, outcome, getattr(counts, outcome) + 1)
        counts.unknown_inputs += unknown


def _error(found: Any, message: str) -> dict[str, str]:
    return {"model": found.name, "version": str(found.version), "message": message[:1000]}


def _ui_base(tracking_uri: str) -> str:
    """The MLflow UI's address for an HTTP tracking server ("" for a store without a UI)."""
    return tracking_uri.rstrip("/") if urlparse(tracking_uri).scheme in ("http", "https") else ""


def origin_section(mv: ModelVersion) -> dict[str, Any] | None:
    """The card's "MLflow origin": where the version came from (links into MLflow's UI when it has
    one), each input with what it matched, and the unknown data; None for a version not from MLflow."""
    origin = MlflowOrigin.objects.filter(model_version=mv).first()
    if origin is None:
        return None
    base = _ui_base(origin.tracking_uri)
    name = quote(origin.registered_name, safe="")
    unknown = [i for i in origin.inputs if not i.get("urn")]
    return {
        "tracking_uri": origin.tracking_uri,
        "registered_model": origin.registered_name,
        "version": origin.mlflow_version,
        "run_id": origin.run_id or None,
        "model_version_url": f"{base}/#/models/{name}/versions/{origin.mlflow_version}" if base else None,
        "run_url": (
            f"{base}/#/experiments/{origin.experiment_id}/runs/{origin.run_id}"
            if base and origin.run_id
            else None
        ),
        "inputs": origin.inputs,
        "unknown_data": unknown,
        "caveats": [
            f"Trained on unknown data ({i.get('name') or 'unnamed input'}): {i['reason']}" for i in unknown
        ],
    }
