"""Connectors: what a source holds, found where it lives (PostgreSQL, object storage, folders).

``for_source(source)`` gives the connector of a source's kind; each one lists what it finds as
``Found`` (one dataset) or ``Problem`` (one thing it could not read) and raises ``SourceError`` when
the source as a whole cannot be read. catalog.scans turns what they find into datasets and versions.
"""

from catalog.connectors.base import Connector, Found, Problem, SourceError


def for_source(source, *, known: dict[str, str] | None = None) -> Connector:
    """The connector for ``source``'s kind (its credentials are read when it connects, never stored).
    Only that kind's module is imported: a PostgreSQL scan does not load boto3. ``known``
    ({name: fingerprint} of what the catalog holds) spares object stores and folders reading the
    head of what has not changed (PostgreSQL reads every schema in one query anyway)."""
    from importlib import import_module

    kinds = {"postgres": "PostgresConnector", "s3": "S3Connector", "folder": "FolderConnector"}
    if source.kind not in kinds:
        raise SourceError(f"Unknown kind of source '{source.kind}'.")
    module = import_module(f"catalog.connectors.{source.kind}")
    if source.kind == "postgres":
        return module.PostgresConnector(source)
    return getattr(module, kinds[source.kind])(source, known=known or {})


__all__ = ["Connector", "Found", "Problem", "SourceError", "for_source"]
