"""Storing a dataset's versions: an uploaded file or a file already inside DATA_ROOTS, checked whole,
hashed and numbered; the same bytes as the latest version make no new one. Profiling subscribes to
catalog.signals.version_stored and mirrors its job's state back through set_version_profile_status.
Deleting a version leaves a tombstone (delete_version).
"""

import logging
import os
import re

from django.core.files.storage import default_storage
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from catalog import files, signals
from catalog.columns import set_columns_from_schema
from catalog.models import Dataset, DatasetVersion, ProfileStatus
from catalog.permissions import can_change_dataset, can_delete_dataset
from config.errors import Conflict, Gone, NotAllowed

log = logging.getLogger(__name__)

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _next_number(dataset: Dataset) -> int:
    last = dataset.versions.order_by("-number").values_list("number", flat=True).first()
    return (last or 0) + 1


def _same_as_latest(dataset: Dataset, checksum: str) -> DatasetVersion | None:
    # A deleted version is not "the same": its bytes are gone, so the same bytes again are new.
    latest = dataset.versions.filter(deleted_at=None).order_by("-number").first()
    return latest if latest is not None and latest.checksum == checksum else None


@transaction.atomic
def _create_version_row(
    *, actor, dataset: Dataset, info: files.FileInfo, checksum: str, size: int, **fields
) -> tuple[DatasetVersion, bool]:
    """Number and insert the version row → (version, created); (latest, False) for the same bytes.

    The dataset row is locked first, so two concurrent versions of one dataset are numbered one
    after the other instead of colliding on the (dataset, number) constraint; on SQLite every
    write transaction is already serialised (transaction_mode IMMEDIATE).
    """
    locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
    same = _same_as_latest(locked, checksum)
    if same is not None:
        return same, False
    try:
        with transaction.atomic():
            version = DatasetVersion.objects.create(
                dataset=locked,
                number=_next_number(locked),
                checksum=checksum,
                size_bytes=size,
                format=info.format,
                compression=info.compression,
                encoding=info.encoding,
                notes=info.notes,
                created_by=actor if actor is not None and actor.is_authenticated else None,
                profile_status=ProfileStatus.PENDING,
                **fields,
            )
    except IntegrityError as exc:  # only without row locks (a database that ignores FOR UPDATE)
        raise Conflict(
            "Another version of this dataset was stored at the same moment; send it again."
        ) from exc
    if info.columns:
        # The columns as far as the bytes tell (names; types for Parquet), so that stewards can
        # document them at once; profiling fills in the inferred types when it has run.
        set_columns_from_schema(dataset=locked, columns=info.columns)
    # Inside this transaction: governance records version.stored with the row (a receiver that
    # raises fails the version, so no version goes unannounced).
    signals.version_stored_in_transaction.send(sender=DatasetVersion, version=version, actor=actor)
    # Profiling (another app) subscribes to this and queues its job; it may only start once the
    # row is visible to a worker, hence on commit. Robust: the version is stored by then, and a
    # subscriber's failure must not turn it into an error for the uploader (who would send it again).
    transaction.on_commit(
        lambda: signals.version_stored.send(sender=DatasetVersion, version=version, actor=actor), robust=True
    )
    return version, True


def add_version_from_upload(
    *, actor, dataset: Dataset, upload, via: str = "api"
) -> tuple[DatasetVersion, bool]:
    """Store an uploaded file as the dataset's next version → (version, created).

    The same bytes as the latest version make no new version (created=False). The file is checked
    whole (format, encoding, row shape) before anything is stored, and a refusal after storing
    removes the stored file again, so nothing is left half-written.

    Not one atomic block on purpose: inspecting and storing a large file takes long, and must not
    hold the dataset's row lock (or SQLite's write lock) meanwhile. Call it outside a transaction;
    the stored file cannot be taken back if an enclosing transaction rolls back later.
    """
    if not can_change_dataset(actor, dataset):
        raise NotAllowed("Only the dataset's owner, a steward or staff may add versions.")
    filename = os.path.basename(getattr(upload, "name", "") or "upload") or "upload"
    size = upload.size
    # HashingUploadHandler hashed the bytes while they streamed in; other callers get them hashed
    # in the same read as the checks.
    checksum = getattr(upload, "sha256", None)
    info = files.inspect(upload, filename=filename, size=size, checksum=checksum is None)
    if checksum is None:
        checksum, size = info.sha256, info.size
    same = _same_as_latest(dataset, checksum)
    if same is not None:
        return same, False
    upload.seek(0)
    # Only storage API calls, so S3 (django-storages) works by settings alone; on the file system
    # a streamed upload's temporary file is moved into place rather than copied.
    stored_name = default_storage.save(
        f"versions/{dataset.pk}/{checksum[:16]}-{_SAFE_NAME.sub('_', filename)[:100]}", upload
    )
    committed: list[bool] = []
    try:
        with transaction.atomic():
            # First of the commit's callbacks: whatever a later one raises, the row is in.
            transaction.on_commit(lambda: committed.append(True))
            version, created = _create_version_row(
                actor=actor,
                dataset=dataset,
                info=info,
                checksum=checksum,
                size=size,
                file=stored_name,
                original_name=filename[:500],
            )
    except BaseException:
        _discard_unless_committed(stored_name, committed=bool(committed))
        raise
    if not created:  # the same bytes arrived concurrently
        default_storage.delete(stored_name)
    return version, created


def _discard_unless_committed(stored_name: str, *, committed: bool) -> None:
    """Remove a stored upload whose version row was not committed; never the file of a row that was.

    An error after the commit (a commit callback) leaves the row and must leave its file. An error
    at the commit itself leaves it unknown: the database says, and a database that cannot say
    keeps the file (an orphan file is harmless; a version without its bytes is not)."""
    if committed:
        return
    try:
        held = DatasetVersion.objects.filter(file=stored_name).exists()
    except DatabaseError:
        log.warning("kept %s: cannot tell whether its version row was committed", stored_name)
        return
    if not held:
        default_storage.delete(stored_name)


def add_version_from_uri(
    *, actor, dataset: Dataset, uri: str, via: str = "api", check: bool = True
) -> tuple[DatasetVersion, bool]:
    """Register a file inside DATA_ROOTS as the dataset's next version, in place (not copied).

    Reading and hashing the file happen before the row lock is taken (see add_version_from_upload).
    ``check=False`` is for the system acting for the dataset's keepers (a monitor's schedule reading
    the registered path again, actor None); people's calls are always checked.
    """
    if check and not can_change_dataset(actor, dataset):
        raise NotAllowed("Only the dataset's owner, a steward or staff may add versions.")
    path = files.path_from_file_uri(uri)
    before = files.file_stat(path)
    with path.open("rb") as fh:
        info = files.inspect(fh, filename=path.name, checksum=True)
    stat = files.settled_stat(path, before)  # "" when the file moved while read, or just before
    return _create_version_row(
        actor=actor,
        dataset=dataset,
        info=info,
        checksum=info.sha256,
        size=info.size,
        source_uri=path.as_uri(),
        original_name=path.name[:500],
        file_stat=stat,
    )


def add_version_from_reference(*, dataset: Dataset, found, actor=None) -> tuple[DatasetVersion, bool]:
    """Record what a source holds now as the dataset's next version, by reference: no bytes are
    copied or hashed; the connector's fingerprint stands for them (catalog.scans, the only caller).
    The same fingerprint as the latest version makes no new one. ``profile`` on the signal says
    whether the source wants its versions profiled."""
    info = files.FileInfo(format=found.format, compression=found.compression or "", columns=found.columns)
    return _create_version_row(
        actor=actor,
        dataset=dataset,
        info=info,
        checksum=found.fingerprint,
        size=int(found.size_bytes or 0),
        source_uri=found.uri[:2000],
        fingerprint=found.fingerprint,
        reference=found.reference or {},
        original_name=found.name[-500:],
    )


def set_version_profile_status(*, version: DatasetVersion, status: str) -> None:
    """Mirror the profiling job's state on the version (called by profiling)."""
    if status not in ProfileStatus.values:
        raise ValueError(f"unknown profile status {status!r}")
    DatasetVersion.objects.filter(pk=version.pk).update(profile_status=status)
    version.profile_status = status


def check_not_deleted(version: DatasetVersion) -> None:
    """Refuse to read or profile a deleted version's data (→ 410)."""
    if version.deleted_at is not None:
        raise Gone(
            f"Version {version.number} of {version.dataset.urn} was deleted; its data is gone.",
            {"version": [f"Deleted at {version.deleted_at.isoformat()}."]},
        )


@transaction.atomic
def delete_version(*, actor, version: DatasetVersion, via: str = "api", check: bool = True) -> DatasetVersion:
    """Delete a version's data, leaving a tombstone: the row stays (number, checksum, size, who
    stored it), with ``deleted_at``/``deleted_by``; every value derived from the data goes.

    Apps purge what they derived (profiles, quality results, drift...) in receivers of
    ``version_deleted_in_transaction``, inside this transaction: one that raises undoes the whole
    deletion. The stored copy is removed once the transaction commits (never before: a rollback
    must not leave a version without its bytes). Data read by reference (a source's objects or
    table, a registered path) is not ours to delete and stays where it is.

    Numbers are never reused; the dataset's latest version becomes its latest not deleted one.
    ``check=False`` is for an erasure (governance.erasures), whose own rule let its actor delete
    the stored copies that hold a data subject's value.
    """
    if check and not can_delete_dataset(actor, version.dataset):
        raise NotAllowed("Only the dataset's owner or staff may delete its versions.")
    # The dataset's row lock orders this with a version being stored or another deletion.
    Dataset.objects.select_for_update().filter(pk=version.dataset_id).first()
    locked = DatasetVersion.objects.select_related("dataset").get(pk=version.pk)
    check_not_deleted(locked)
    stored = locked.file.name if locked.file else ""
    locked.deleted_at = timezone.now()
    locked.deleted_by = actor if actor is not None and actor.is_authenticated else None
    locked.file = ""
    locked.save(update_fields=["deleted_at", "deleted_by", "file"])
    signals.version_deleted_in_transaction.send(sender=DatasetVersion, version=locked, actor=actor, via=via)
    # Another version may hold the same stored name only if storage handed it out twice; keep it then.
    if stored and not DatasetVersion.objects.filter(file=stored).exists():
        transaction.on_commit(lambda: default_storage.delete(stored), robust=True)
    return locked
