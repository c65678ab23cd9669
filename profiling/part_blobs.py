"""The states a profile part hands to the merge (``ProfilePart.state`` and ``quality_state``, up to
hundreds of MB when the suite keeps whole columns), written and read without the copies an ORM
query makes of them.

On PostgreSQL, Django's cursor puts a ``bytea`` parameter into the query's text, escaped: writing a
92 MiB state raised the worker's peak RSS by 736 MiB (8 times the state), and reading it back as
text by 184 MiB. Here a state is written as a binary parameter (psycopg's server-side binding, on
Django's own connection and transaction: +184 MiB for 92 MiB) and read in slices of ``SLICE``
bytes into one buffer (the state once, plus a slice). Other databases (SQLite) bind bytes as they
are: the ORM does it there.

A state is stored compressed with zstd at level 1 (Arrow's codec): the 14 MiB state of 5M rows of
the 10M-row reference file becomes 1.7 MiB in 67 ms and comes back in 49 ms, where PostgreSQL took
0.15 s to store it and 0.13 s to read it uncompressed (its TOAST chunks are 2 KB each) and 0.6 s to
compress it itself (pglz; the column is STORAGE EXTERNAL since profiling 0007). Bytes stored
before (a part of a run in flight across an upgrade) are read as they are.
"""

from __future__ import annotations

import struct

from django.db import connection

from profiling.models import ProfilePart

SLICE = 8 * 1024 * 1024
FIELDS = ("state", "quality_state")
PACKED = b"GVz1"  # then the state's size (8 bytes, big-endian) and its zstd frame
_SIZE = struct.Struct(">Q")
LEVEL = 1


def _codec():
    import pyarrow as pa

    return pa.Codec("zstd", compression_level=LEVEL)


def pack(data: bytes | None) -> bytes | None:
    """The bytes stored for a state."""
    if data is None:
        return None
    return PACKED + _SIZE.pack(len(data)) + _codec().compress(data, asbytes=True)


def unpack(stored: bytes | bytearray | memoryview | None) -> bytes | bytearray | memoryview | None:
    """The state stored as ``stored`` (a memoryview over Arrow's buffer: not copied again)."""
    if stored is None:
        return None
    view = memoryview(stored)
    if bytes(view[: len(PACKED)]) != PACKED:
        return stored  # stored before states were compressed
    (size,) = _SIZE.unpack_from(view, len(PACKED))
    body = view[len(PACKED) + _SIZE.size :]
    return memoryview(_codec().decompress(body, decompressed_size=size))


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _check(field: str) -> None:
    if field not in FIELDS:
        raise ValueError(f"no part state called {field!r}")


def _names(field: str) -> tuple[str, str]:
    quote = connection.ops.quote_name
    return quote(ProfilePart._meta.db_table), quote(ProfilePart._meta.get_field(field).column)


def write(part_id: int, **states: bytes | None) -> None:
    """Store ``state`` and/or ``quality_state`` of part ``part_id`` (in the caller's transaction)."""
    for field in states:
        _check(field)
    states = {field: pack(data) for field, data in states.items()}
    if not _postgres():
        ProfilePart.objects.filter(pk=part_id).update(**states)
        return
    import psycopg

    for field, data in states.items():
        table, column = _names(field)
        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cur:
            cur.execute(
                f"UPDATE {table} SET {column} = %b WHERE id = %s",  # noqa: S608 - names quoted above
                [data, part_id],
                prepare=False,
            )


def read(part_id: int, field: str) -> bytes | bytearray | memoryview | None:
    """The state ``field`` of part ``part_id`` (None when it has none)."""
    _check(field)
    return unpack(_read_stored(part_id, field))


def _read_stored(part_id: int, field: str) -> bytes | bytearray | None:
    if not _postgres():
        data = ProfilePart.objects.filter(pk=part_id).values_list(field, flat=True).get()
        return None if data is None else bytes(data)
    import psycopg

    table, column = _names(field)
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cur:
        cur.execute(
            f"SELECT octet_length({column}) FROM {table} WHERE id = %s",  # noqa: S608
            [part_id],
            prepare=False,
        )
        row = cur.fetchone()
        if row is None:
            raise ProfilePart.DoesNotExist(f"no profile part {part_id}")
        if row[0] is None:
            return None
        out = bytearray(row[0])
        for start in range(0, len(out), SLICE):
            cur.execute(
                f"SELECT substring({column} FROM %s FOR %s) FROM {table} WHERE id = %s",  # noqa: S608
                [start + 1, SLICE, part_id],
                binary=True,
                prepare=False,
            )
            piece = cur.fetchone()[0]
            if len(piece) != min(SLICE, len(out) - start):
                raise RuntimeError(f"the state of profile part {part_id} changed while it was read")
            out[start : start + len(piece)] = piece
            del piece
        return out
