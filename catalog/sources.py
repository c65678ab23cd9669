"""Sources: adding, changing and removing them, their scan schedules, and "Test connection".

A source's schedule is a django-celery-beat PeriodicTask (cron, in the database) that beat's
DatabaseScheduler runs; it is kept in step here (through catalog.schedules, shared with dataset
monitors), in the same transaction as the source. Scanning itself
is catalog.scans.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from catalog import schedules
from catalog.connectors import Found, Problem, SourceError, for_source
from catalog.connectors.access import postgres_parts, s3_parts
from catalog.connectors.secrets import check_secret_name, redact
from catalog.models import Sensitivity, Source, SourceKind, SourceLayout
from catalog.permissions import can_add_source, can_delete_source, can_manage_source
from catalog.schedules import check_cron
from catalog.services import users_named
from config.errors import Conflict, NotAllowed

SCAN_TASK = "catalog.scheduled_scan"
FIELDS = (
    "secret",
    "endpoint_url",
    "include",
    "exclude",
    "layout",
    "schedule",
    "profile",
    "sample_above_rows",
    "owner",
    "stewards",
    "sensitivity",
)


def _check_uri(kind: str, uri: str) -> str:
    try:
        if kind == SourceKind.POSTGRES:
            postgres_parts(uri)
        elif kind == SourceKind.S3:
            s3_parts(uri)
        elif kind == SourceKind.FOLDER:
            _check_folder(uri)
        else:
            raise ValidationError({"kind": [f"Must be one of {', '.join(SourceKind.values)}."]})
    except SourceError as exc:
        raise ValidationError({"uri": [str(exc)]}) from None
    return uri


def _check_folder(uri: str) -> None:
    parsed = urlparse(uri)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        raise SourceError(f"A folder source's URI is file:///path, not '{uri}'.")
    path = Path(unquote(parsed.path)).resolve()
    if not any(path == root or root in path.parents for root in settings.DATA_ROOTS):
        raise SourceError(f"{path} is outside the folders data may be registered from (DATA_ROOTS).")
    if not path.is_dir():
        raise SourceError(f"{path} is not a folder.")


def _globs(field: str, value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v and len(v) <= 500 for v in value):
        raise ValidationError({field: ["A list of glob patterns (text)."]})
    return list(dict.fromkeys(value))


def _apply(source: Source, data: dict[str, Any]) -> list | None:
    """Validate and set fields; → the stewards to set after saving (None: unchanged)."""
    stewards = None
    for key, value in data.items():
        if key not in FIELDS:
            raise ValidationError({key: ["This field cannot be set."]})
        if key == "secret":
            try:
                source.secret = check_secret_name(value) if value else ""
            except ValueError as exc:
                raise ValidationError({"secret": [str(exc)]}) from None
        elif key == "endpoint_url":
            if value and urlparse(value).scheme not in ("http", "https"):
                raise ValidationError({"endpoint_url": ["An http:// or https:// URL."]})
            source.endpoint_url = value or ""
        elif key in ("include", "exclude"):
            setattr(source, key, _globs(key, value))
        elif key == "layout":
            if value not in SourceLayout.values:
                raise ValidationError({"layout": [f"Must be one of {', '.join(SourceLayout.values)}."]})
            source.layout = value
        elif key == "schedule":
            source.schedule = check_cron(value) if value else ""
        elif key == "profile":
            if not isinstance(value, bool):
                raise ValidationError({"profile": ["true or false."]})
            source.profile = value
        elif key == "sample_above_rows":
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValidationError({"sample_above_rows": ["A positive number of rows, or null."]})
            source.sample_above_rows = value
        elif key == "owner":
            source.owner = users_named("owner", [value])[0] if value else None
        elif key == "stewards":
            if not isinstance(value, list):
                raise ValidationError({"stewards": ["A list of usernames."]})
            stewards = users_named("stewards", value)
        elif key == "sensitivity":
            if value not in Sensitivity.values:
                raise ValidationError({"sensitivity": [f"Must be one of {', '.join(Sensitivity.values)}."]})
            source.sensitivity = value
    return stewards


@transaction.atomic
def create_source(*, actor, name: str, kind: str, uri: str, **data: Any) -> Source:
    """Add a source (staff, or a user with the permission to add sources). The owner defaults to the actor."""
    if not can_add_source(actor):
        raise NotAllowed("Only staff or users allowed to add sources may add one.")
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ValidationError({"name": ["Give a name of at most 200 characters."]})
    source = Source(name=name, kind=kind, uri=_check_uri(kind, (uri or "").strip()), created_by=actor)
    if "owner" not in data:
        source.owner = actor
    stewards = _apply(source, data)
    try:
        with transaction.atomic():
            source.save()
    except IntegrityError as exc:
        raise Conflict(f"A source named {name} exists already.", {"name": ["Taken."]}) from exc
    if stewards is not None:
        source.stewards.set(stewards)
    sync_schedule(source)
    return source


@transaction.atomic
def update_source(*, actor, source: Source, **data: Any) -> Source:
    """Change a source's settings (its owner, a steward or staff). Its kind and URI name its datasets
    and cannot change: add another source instead."""
    if not can_manage_source(actor, source):
        raise NotAllowed("Only the source's owner, a steward or staff may change it.")
    for fixed in ("kind", "uri", "name"):
        if fixed in data and data[fixed] != getattr(source, fixed):
            raise ValidationError({fixed: [f"A source's {fixed} cannot change; add another source instead."]})
        data.pop(fixed, None)
    if "owner" in data and not (actor.is_staff or source.owner_id == actor.pk):
        raise NotAllowed("Only the source's owner or staff may hand it to another owner.")
    source = Source.objects.select_for_update().get(pk=source.pk)
    stewards = _apply(source, data)
    source.save()
    if stewards is not None:
        source.stewards.set(stewards)
    sync_schedule(source)
    return source


@transaction.atomic
def delete_source(*, actor, source: Source) -> None:
    """Remove a source (staff or its owner). Its datasets stay in the catalog with their history."""
    if not can_delete_source(actor, source):
        raise NotAllowed("Only the source's owner or staff may delete it.")
    task = source.periodic_task
    source.delete()
    if task is not None:
        task.delete()


def sync_schedule(source: Source) -> None:
    """Keep the source's beat entry in step with its ``schedule`` (none when empty)."""
    task = source.periodic_task
    if task is not None and not source.schedule:
        Source.objects.filter(pk=source.pk).update(periodic_task=None)
        source.periodic_task = None
    task = schedules.keep_periodic_task(
        task,
        name=f"source-scan-{source.pk}",
        task=SCAN_TASK,
        args=[source.pk],
        cron=source.schedule,
        description=f"Scan the source {source.name}",
    )
    if task is not None and source.periodic_task_id != task.pk:
        Source.objects.filter(pk=source.pk).update(periodic_task=task)
        source.periodic_task = task


def test_source(*, actor, source: Source, limit: int = 20) -> dict[str, Any]:
    """Connect and list what a scan would register (the first ``limit`` names), writing nothing."""
    if not can_manage_source(actor, source):
        raise NotAllowed("Only the source's owner, a steward or staff may test it.")
    names: list[str] = []
    problems: list[dict[str, Any]] = []
    try:
        connector = for_source(source)
        connector.check()
        for item in connector.discover():
            if isinstance(item, Found):
                names.append(item.name)
            elif isinstance(item, Problem) and len(problems) < limit:
                problems.append({"name": item.name, "message": item.message})
            if len(names) >= limit:
                break
    except SourceError as exc:
        return {"ok": False, "would_register": names, "error": redact(str(exc))}
    answer: dict[str, Any] = {"ok": True, "would_register": names}
    if problems:
        answer["problems"] = problems
    return answer


test_source.__test__ = False  # a service named test_*, not a test for pytest to collect
