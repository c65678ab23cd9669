"""MLflow's model registry, synced through MLflow's own client: each registered model version
becomes a model version here (namespace ``mlflow://host[:port]``, name = the registered model's name,
version = MLflow's version number), with its run's dataset inputs matched to the catalog
(governance.mlflow_inputs) and the clearance at registration; the verdict and the card's URL are
written back to MLflow as the tags ``gouvernail.clearance`` and ``gouvernail.card``.

Idempotent: a version already registered here whose tags in MLflow already say what they should
costs no write at all, here or in MLflow. New versions are stored a page at a time (COMMIT_EVERY
per transaction, registered together: registry.register_model_versions), each with its
registration, origin, audit record and event; when one of them fails, the page is stored again one
version per savepoint, and only that one is missing. Tags are written after the commit, and a tag
write that failed is done again by the next sync (which compares with MLflow's tags, not ours). The
job around it (one at a time, under a lease) is governance.mlflow_jobs.
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
from governance.models import MlflowOrigin, ModelVersion, Via
from governance.registry import Registration, register_model_versions

log = logging.getLogger(__name__)

TAG_CLEARANCE = "gouvernail.clearance"
IS_PROMPT_TAG = "mlflow.prompt.is_prompt"  # mlflow.prompt.constants.IS_PROMPT_TAG_KEY
TAG_CARD = "gouvernail.card"
PAGE_SIZE = 1000  # model versions per search page (MLflow's servers accept up to 10,000)
RUN_BATCH = 100  # run ids (and experiment ids) per search of runs
COMMIT_EVERY = 50  # versions stored per transaction (registered together)
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
    """Every registered model version, oldest first (by model name, then version number). Prompts,
    which MLflow keeps as registered models too, are not models: left out wherever a store lists them."""
    found, token = [], None
    while True:
        page = client.search_model_versions(max_results=PAGE_SIZE, page_token=token)
        found.extend(v for v in page if (getattr(v, "tags", None) or {}).get(IS_PROMPT_TAG) != "true")
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


def _creators(page: list, users: dict[str, Any]) -> dict[str, Any]:
    """The users here named as the versions' creators in MLflow (``users``: those looked up so far in
    this sync, None for a name no active user has), looked up in one query for the page."""
    names = {getattr(f, "user_id", "") or "" for f in page} - {""} - users.keys()
    if names:
        found = get_user_model().objects.filter(username__in=names, is_active=True)
        users.update(dict.fromkeys(names))
        users.update((u.get_username(), u) for u in found)
    return users


def _registration(namespace: str, found: Any, inputs: list, users: dict[str, Any]) -> Registration:
    """What registers an MLflow model version here. Whose clearance is recorded: the model's owner
    here (``owner_first``), else the user MLflow names as the version's creator when one has that
    username, else nobody (then only data that needs no approval clears)."""
    return Registration(
        namespace=namespace,
        name=found.name,
        version=str(found.version),
        trained_on=[f"{i['urn']}@{i['version']}" if i["version"] else i["urn"] for i in inputs if i["urn"]],
        run_id=(found.run_id or "")[:100],
        principal=users.get(getattr(found, "user_id", "") or ""),
        unknown=[{"name": i["name"], "reason": i["reason"]} for i in inputs if not i["urn"]],
    )


def _origin(mv: ModelVersion, *, tracking_uri: str, found: Any, run: dict, inputs: list) -> MlflowOrigin:
    return MlflowOrigin(
        model_version=mv,
        tracking_uri=shown_uri(tracking_uri)[:500],
        registered_name=found.name,
        mlflow_version=str(found.version),
        run_id=found.run_id or "",
        experiment_id=run.get("experiment_id", ""),
        inputs=_public(inputs),
        unknown_inputs=sum(1 for i in inputs if not i["urn"]),
        tags=wanted_tags(mv),
    )


def _known(namespace: str) -> dict[tuple[str, str], ModelVersion]:
    """The model versions of this namespace already here, by (name, version), in one query."""
    rows = ModelVersion.objects.filter(model__namespace=namespace).select_related("model")
    return {(mv.model.name, mv.version): mv for mv in rows}


def _store(
    client,
    counts: Counts,
    page: list,
    *,
    namespace: str,
    uri: str,
    known: dict,
    runs: dict,
    memo: dict,
    users: dict,
) -> list[tuple[Any, dict[str, str]]]:
    """Sync these versions in the current transaction → the tags to write once it has committed.

    A version already here costs no write: only its tags that MLflow lost are written again. The new
    ones are registered together (registry.register_model_versions), each with its origin, audit
    record and event; one whose run cannot be read or that the registry refuses is an error of its
    own. A database error raises (the caller rolls back and stores the versions one by one)."""
    staged: list[tuple[Any, dict[str, str]]] = []
    new: list[tuple[Any, dict, list]] = []
    for found in page:
        counts.seen += 1
        mv = known.get((found.name, str(found.version)))
        if mv is not None:
            current = dict(getattr(found, "tags", None) or {})
            missing = {k: v for k, v in wanted_tags(mv).items() if current.get(k) != v}
            if missing:  # removed or edited in MLflow, or SITE_URL moved
                staged.append((found, missing))
                counts.updated += 1
            else:
                counts.unchanged += 1
            continue
        try:
            run, inputs = _run_inputs(client, found.run_id or "", runs, memo)
        except _mlflow_errors() as exc:
            counts.errors.append(_error(found, reach_error(uri, exc)))
            continue
        new.append((found, run, inputs))
    if not new:
        return staged
    _creators([found for found, _run, _inputs in new], users)
    outcomes = register_model_versions(
        [_registration(namespace, found, inputs, users) for found, _run, inputs in new],
        actor=None,
        via=Via.MLFLOW,
        owner_first=True,
    )
    origins = []
    for (found, run, inputs), outcome in zip(new, outcomes, strict=True):
        if isinstance(outcome, Exception):
            counts.errors.append(_error(found, _refusal(outcome)))
            continue
        origins.append(_origin(outcome, tracking_uri=uri, found=found, run=run, inputs=inputs))
        staged.append((found, origins[-1].tags))
        counts.created += 1
        counts.unknown_inputs += origins[-1].unknown_inputs
    MlflowOrigin.objects.bulk_create(origins)
    return staged


def _refusal(exc: BaseException) -> str:
    return "; ".join(getattr(exc, "messages", None) or [str(exc)])


class _TagWriter:
    """Writes tags on MLflow model versions, from any thread.

    ``MlflowClient.set_model_version_tag`` first reads the registered model, with all its versions,
    to refuse a prompt (MLflow keeps prompts as registered models): for every tag, the larger part
    of its cost. Here each registered model is checked so once per sync, by that call; its other
    tags go to the registry client behind it (mlflow-skinny is pinned, and the tests write to a real
    store through both)."""

    def __init__(self, client) -> None:
        self.client = client
        self.checked: set[str] = set()

    def write(self, found: Any, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            if found.name in self.checked:
                self.client._get_registry_client().set_model_version_tag(
                    found.name, str(found.version), key, value
                )
            else:
                self.client.set_model_version_tag(found.name, str(found.version), key, value)
                self.checked.add(found.name)


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
    shared = {
        "namespace": namespace,
        "uri": uri,
        "known": known,
        "runs": runs,
        "memo": {},  # the inputs' matches, shared by the versions of this sync
        "users": {},  # MLflow's creators, by username: the user here or None
    }
    tags = _TagWriter(client)
    # An HTTP server's tags are written by other threads while this one registers the next versions
    # (its answers are waited for in parallel). A local store's (a file, SQLite) are written here,
    # after each commit: its writes take turns anyway, and a writer thread busy in MLflow's Python
    # holds the interpreter's lock each time this one comes back from the database (measured: the
    # sync took twice as long with the thread as with the same writes done here).
    remote = urlparse(uri).scheme in ("http", "https")
    pending: list[tuple[Any, Future]] = []
    with ThreadPoolExecutor(max_workers=TAG_WRITERS, thread_name_prefix="mlflow-tags") as pool:
        submit = pool.submit if remote else _now
        for start in range(0, len(found_all), COMMIT_EVERY):
            page = found_all[start : start + COMMIT_EVERY]
            staged = _sync_page(client, counts, page, **shared)
            # Committed: now MLflow may say so (a tag never names a registration that was rolled back).
            pending.extend((found, submit(tags.write, found, wanted)) for found, wanted in staged)
            if beat is not None:
                beat(counts)
    for found, future in pending:
        if future.exception() is not None:  # stored here; the next sync writes its tags
            counts.errors.append(_error(found, "Tags not written: " + reach_error(uri, future.exception())))
    return counts


def _now(write: Callable[..., None], *args: Any) -> Future:
    """``write(*args)`` in this thread → its outcome, as a thread pool's future would hold it."""
    done: Future = Future()
    try:
        done.set_result(write(*args))
    except Exception as exc:  # as a writer thread's future would hold it: this version's error
        done.set_exception(exc)
    return done


def _sync_page(client, counts: Counts, page: list, **kwargs) -> list[tuple[Any, dict[str, str]]]:
    """Sync a page of versions in one transaction (one commit, and its after-commit hooks once, rather
    than one per version) → the tags to write once it has committed. The page's new versions are
    registered together in a savepoint; when that fails on a write, the page is synced again one
    version at a time, each in a savepoint of its own, so that the version that fails is rolled back
    alone. A commit that fails stores none of the page: an error each."""
    mine = Counts()
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    staged = _store(client, mine, page, **kwargs)
            except (DatabaseError, ValidationError, Conflict, NotAllowed):
                mine, staged = Counts(), []
                for found in page:
                    staged.extend(_alone(client, mine, found, **kwargs))
    except DatabaseError as exc:
        counts.seen += len(page)
        counts.errors.extend(_error(f, f"Not stored (the page's commit failed): {exc}") for f in page)
        return []
    _add(counts, mine)
    return staged


def _alone(client, counts: Counts, found: Any, **kwargs) -> list[tuple[Any, dict[str, str]]]:
    """One version in a savepoint of its own → its tags to write; what fails is its error alone."""
    mine = Counts()
    try:
        with transaction.atomic():
            staged = _store(client, mine, [found], **kwargs)
    except DatabaseError as exc:
        mine, staged = Counts(seen=1, errors=[_error(found, f"Not stored: {exc}")]), []
    except (ValidationError, Conflict, NotAllowed) as exc:
        mine, staged = Counts(seen=1, errors=[_error(found, _refusal(exc))]), []
    _add(counts, mine)
    return staged


def _add(counts: Counts, more: Counts) -> None:
    for name in ("seen", "created", "updated", "unchanged", "unknown_inputs"):
        setattr(counts, name, getattr(counts, name) + getattr(more, name))
    counts.errors.extend(more.errors)


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
