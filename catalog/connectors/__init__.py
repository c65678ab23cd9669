"""Connectors: what a source holds, found where it lives (PostgreSQL, object storage, folders).

``for_source(source)`` gives the connector of a source's kind; each one lists what it finds as
``Found`` (one dataset) or ``Problem`` (one thing it could not read) and raises ``SourceError`` when
the source as a whole cannot be read. catalog.scans turns what they find into datasets and versions.
"""

from catalog.connectors.base import Connector, Found, Problem, SourceError


def for_source(source) -> Connector:
    """The connector for ``source``'s kind (its credentials are read now, never stored)."""
    from catalog.connectors import folder, postgres, s3

    kinds = {"postgres": postgres.PostgresConnector, "s3": s3.S3Connector, "folder": folder.FolderConnector}
    try:
        return kinds[source.kind](source)
    except KeyError:
        raise SourceError(f"Unknown kind of source '{source.kind}'.") from None


__all__ = ["Connector", "Found", "Problem", "SourceError", "for_source"]
