"""Reading a version's file through to its end, for what its head cannot tell: every CSV
record's field count, the whole gzip stream, every line of JSON Lines, whether the text is UTF-8
throughout -- and the sha256 of the bytes, in the same read as these checks (``RawPass``).

catalog.files decides the format from the file's head and calls these; every refusal is a
ValidationError({"file": [...]}) whose message a person can act on. Nothing is held in memory:
files are read in chunks and pyarrow parses small blocks.
"""

import codecs
import gzip
import hashlib
import io
import os
import re
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.exceptions import ValidationError

from catalog import formats
from catalog.formats import FormatError

CHUNK = 1024 * 1024


def bad(message: str) -> ValidationError:
    return ValidationError({"file": [message]})


class TooLarge(ValidationError):
    """A file past GOUVERNAIL_MAX_VERSION_BYTES once decompressed (the API answers 413)."""


def check_gzip_whole(fh, size: int) -> "Utf8Check":
    """Decompress the whole gzip stream (without keeping it): a truncated file is refused now, and so
    is one that holds more than the size limit, or expands more than the ratio limit allows, once
    decompressed -- as soon as it does, so that a small file holding gigabytes is not read whole.
    → whether the text is UTF-8 (judged once its encoding is known)."""
    fh.seek(0)
    text_bytes = 0
    utf8 = Utf8Check()
    try:
        for block in formats.gunzip_blocks(fh, CHUNK):
            text_bytes += len(block)
            utf8.feed(block)
            formats.check_expansion(
                text_bytes,
                size,
                max_bytes=settings.GOUVERNAIL_MAX_VERSION_BYTES,
                max_ratio=settings.GOUVERNAIL_MAX_EXPANSION_RATIO,
            )
    except zlib.error as exc:
        raise bad(f"The gzip data is corrupt: {exc}.") from exc
    except formats.TooLarge as exc:
        raise TooLarge({"file": [str(exc)]}) from None
    except FormatError as exc:
        raise bad(str(exc)) from None
    utf8.close()
    return utf8


def json_line(line: str, line_no: int) -> dict | None:
    try:
        return formats.json_line_object(line, line_no, max_depth=settings.GOUVERNAIL_MAX_JSON_DEPTH)
    except FormatError as exc:
        raise bad(str(exc)) from None


class Borrowed:
    """A file handed to pyarrow without giving it away: pyarrow closes what it reads, but the
    caller still has to store the same file afterwards."""

    closed = False

    def __init__(self, fh) -> None:
        self._fh = fh

    def read(self, n: int = -1) -> bytes:
        return self._fh.read(n)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def close(self) -> None:
        pass


def text_stream(fh, compressed: bool):
    """The file's bytes from the start, decompressed, as a pyarrow input stream (no copy in memory)."""
    import pyarrow as pa

    fh.seek(0)
    raw = pa.PythonFile(Borrowed(fh), mode="r")
    return formats.text_stream(raw, "gzip" if compressed else "", buffer_size=CHUNK)


# Blocks the whole-file CSV check parses at a time. Small blocks keep the server's memory flat however
# large the file; a row longer than a block is retried with big blocks.
CSV_BLOCK = 256 * 1024
CSV_BLOCK_LARGE = 32 * CHUNK


class Utf8Check:
    """Is a stream of bytes, fed in chunks, UTF-8 throughout, and where is it first not? Text that is
    all ASCII (most data) is passed over without being decoded."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self.fed = 0
        self.bad_at: int | None = None  # offset of the first byte that is not UTF-8

    def feed(self, chunk: bytes, *, final: bool = False) -> None:
        if self.bad_at is not None:
            return
        pending = self._decoder.getstate()[0]
        if final or pending or not chunk.isascii():
            try:
                self._decoder.decode(chunk, final)
            except UnicodeDecodeError as exc:
                self.bad_at = self.fed - len(pending) + exc.start
                return
        self.fed += len(chunk)

    def close(self) -> None:
        self.feed(b"", final=True)  # a character cut off by the end of the data


class RawPass:
    """One read of a file's bytes, as stored: its sha256 (when asked) and whether it is UTF-8.

    A file with a descriptor is read in a thread with ``os.pread`` (the caller's position is left
    alone; hashlib lets go of the GIL), so that on two cores this read costs no time beside the
    CSV parse; an in-memory file is read when the result is asked for."""

    def __init__(self, fh, *, sha256: bool) -> None:
        self.digest = hashlib.sha256() if sha256 else None
        self.utf8 = Utf8Check()
        self.size = 0
        self._fh = fh
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._done = False
        try:
            fh.flush()  # an upload's temporary file: what was written is what pread sees
            self._fd: int | None = fh.fileno()
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            self._fd = None
        if self._fd is not None:
            self._thread = threading.Thread(target=self._guarded, name="inspect-raw-read", daemon=True)
            self._thread.start()

    def _blocks(self):
        if self._fd is None:
            self._fh.seek(0)
            while block := self._fh.read(CHUNK):
                yield block
            return
        offset = 0
        buffer = bytearray(CHUNK)  # one buffer read into again and again: no 1 MiB allocation a read
        while not self._stop.is_set() and (n := os.preadv(self._fd, [buffer], offset)):
            offset += n
            yield buffer if n == CHUNK else bytes(buffer[:n])

    def _run(self) -> None:
        for block in self._blocks():
            if self.digest is not None:
                self.digest.update(block)
            self.utf8.feed(block)
            self.size += len(block)
        self.utf8.close()

    def _guarded(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread by result()
            self._error = exc

    def result(self) -> "RawPass":
        if self._thread is not None:
            self._thread.join()
        elif not self._done:
            self._run()
        self._done = True
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        """Give up (the file was refused) or clean up: the thread ends at its next block."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


# A file at least this big, uncompressed, on disk, is checked in two halves at once (two cores).
SPLIT_BYTES = 16 * CHUNK


def check_csv_whole(
    fh, *, compressed: bool, delimiter: str, encoding: str, header: list[str], utf8, head_bytes: int
) -> None:
    """Parse every row for shape (pyarrow's streaming C++ reader, block by block), then check that
    the text is valid in its encoding.

    Every record's field count is checked by the parser whatever columns are converted, so one
    column is (converting every field to text was most of the check's cost); that the bytes are
    UTF-8 is ``utf8()``'s answer (a Utf8Check over the whole text, read beside the parse). Other
    encodings are decoded on the way in by pyarrow's transcoder. A large file is parsed as two
    halves at once, cut at a true record start (catalog.csv_cuts): a record is read the same
    whichever half holds it. ``head_bytes``: what was checked line by line before (the message
    says a bad byte is past it)."""
    width = len(header)
    cut = None if compressed else _half_way(fh, delimiter)
    if cut is None:
        _parse_range(lambda: text_stream(fh, compressed), delimiter, encoding, width, first=True).result()
    else:
        fd, size = fh.fileno(), cut[1]
        with ThreadPoolExecutor(1, thread_name_prefix="inspect-parse") as pool:
            first = pool.submit(
                lambda: _parse_range(
                    lambda: _range_stream(fd, 0, cut[0]), delimiter, encoding, width, first=True
                )
            )
            second = _parse_range(
                lambda: _range_stream(fd, cut[0], size), delimiter, encoding, width, first=False
            )
            first.result().result()  # a refusal in the first half comes first: it is earlier
        second.result(after=first.result().rows)
    if formats.is_utf8(encoding):
        check = utf8()
        if check.bad_at is not None:
            raise bad(
                f"The file is not valid UTF-8 after its first {head_bytes // CHUNK} MB (on line "
                f"{_line_at(fh, check.bad_at, compressed)}, byte {check.bad_at}"
                f"{' of its decompressed text' if compressed else ''}). Re-save it as UTF-8."
            )


def _line_at(fh, offset: int, compressed: bool) -> int:
    """The line (1 is the first) of the text's byte ``offset``: its line breaks counted again, only
    for the message of a refusal (counting them on every read cost a third of the read)."""
    fh.seek(0)
    blocks = formats.gunzip_blocks(fh, CHUNK) if compressed else iter(lambda: fh.read(CHUNK), b"")
    lines = seen = 0
    for block in blocks:
        if seen + len(block) >= offset:
            return lines + block.count(b"\n", 0, offset - seen) + 1
        lines += block.count(b"\n")
        seen += len(block)
    return lines + 1


def _half_way(fh, delimiter: str) -> tuple[int, int] | None:
    """(a true record start near the middle, the file's size) of a file on disk large enough to
    be parsed in two halves on a machine of two cores or more; None otherwise."""
    from catalog import csv_cuts

    try:
        fh.flush()  # an upload's temporary file: what was written is what pread sees
        fd = fh.fileno()
        size = os.fstat(fd).st_size
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
    if size < SPLIT_BYTES or _cores() < 2:
        return None
    # Rows up to a large block long pass the check: no quote within that reach of a point means
    # the point is outside a quoted value.
    cut = csv_cuts.cut_after(fh, size // 2, size, ord(delimiter), CSV_BLOCK_LARGE, known=False)
    return (cut, size) if cut is not None and 0 < cut < size else None


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


class _Range(io.RawIOBase):
    """Bytes [start, end) of an open file, read with os.pread (its position is left alone)."""

    def __init__(self, fd: int, start: int, end: int) -> None:
        super().__init__()
        self._fd, self._pos, self._end = fd, start, end

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        n = min(len(view), self._end - self._pos)
        if n <= 0:
            return 0
        got = os.preadv(self._fd, [view[:n]], self._pos)
        self._pos += got
        return got


def _range_stream(fd: int, start: int, end: int):
    import pyarrow as pa

    return formats.text_stream(pa.PythonFile(_Range(fd, start, end), mode="r"), "", buffer_size=CHUNK)


class _Parsed:
    """What parsing a range found: its data rows, or the refusal to raise (``result``)."""

    def __init__(
        self, rows: int, *, error: str = "", cause: BaseException | None = None, kind: str = ""
    ) -> None:
        self.rows, self.error, self.cause, self.kind = rows, error, cause, kind

    def result(self, *, after: int = 0) -> "_Parsed":
        """Raise the refusal, if any, its row numbers counted from the file's start when the range
        started ``after`` data rows into the file (pyarrow numbers a range's records from 1, the
        header being record 1 of the first range)."""
        if not self.error:
            return self
        where = 1 + after + self.rows
        if self.kind == "transcode":
            raise bad(
                f"The file is not valid {self.error} after data row {where}. Re-save it as UTF-8."
            ) from self.cause
        message = self.error
        if after:
            message = re.sub(r"Row #(\d+)", lambda m: f"Row #{int(m.group(1)) + after + 1}", message)
        raise bad(f"The file cannot be read as {self.kind} after data row {where}: {message}") from self.cause


def _parse_range(open_stream, delimiter: str, encoding: str, width: int, *, first: bool) -> _Parsed:
    """Parse one range of the file (the first holds the header), with larger blocks if a row is
    longer than a block → _Parsed (a refusal is kept, not raised: see _Parsed.result)."""
    import pyarrow as pa

    try:
        return _parse_csv_blocks(open_stream(), delimiter, encoding, width, CSV_BLOCK, first=first)
    except pa.ArrowInvalid as exc:
        if not _too_long(exc):
            raise
    try:
        return _parse_csv_blocks(open_stream(), delimiter, encoding, width, CSV_BLOCK_LARGE, first=first)
    except pa.ArrowInvalid as exc:
        if not _too_long(exc):
            raise
        raise bad(
            f"A row of the file is longer than {CSV_BLOCK_LARGE // CHUNK} MiB. Check the delimiter and the "
            "quoting (an unclosed quote makes one huge row)."
        ) from exc


def _too_long(exc: Exception) -> bool:
    """pyarrow's complaint about a row longer than its block (not the file's fault below a limit)."""
    return "straddling" in str(exc) or "block size" in str(exc)


def _parse_csv_blocks(
    stream, delimiter: str, encoding: str, width: int, block: int, *, first: bool
) -> _Parsed:
    import pyarrow as pa
    from pyarrow import csv as pacsv

    names = [f"c{i}" for i in range(width)]
    reader_options = pacsv.ReadOptions(
        column_names=names,
        skip_rows=1 if first else 0,
        block_size=block,
        encoding=encoding or "utf8",
        use_threads=False,
    )
    # Shape, not types (types are the profiler's): one column read, as text.
    convert = pacsv.ConvertOptions(
        column_types={names[0]: pa.string()}, include_columns=names[:1], check_utf8=False
    )
    parse = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True)
    rows = 0
    kind = "TSV" if delimiter == "\t" else "CSV"
    try:
        reader = pacsv.open_csv(
            stream,
            read_options=reader_options,
            parse_options=parse,
            convert_options=convert,
            # malloc hands freed blocks back; pyarrow's default pool (mimalloc) keeps arenas around.
            memory_pool=pa.system_memory_pool(),
        )
        for batch in reader:
            rows += batch.num_rows
    except pa.ArrowInvalid as exc:
        message = str(exc)
        if _too_long(exc):
            raise  # not the file's fault: _parse_range retries with larger blocks
        return _Parsed(rows, error=f"{message} (ragged rows or unbalanced quotes).", cause=exc, kind=kind)
    except UnicodeDecodeError as exc:  # pyarrow's transcoder, for a text that is not UTF-8
        error = f"{encoding} text (byte 0x{exc.object[exc.start]:02x})"
        return _Parsed(rows, error=error, cause=exc, kind="transcode")
    except (OSError, EOFError, zlib.error) as exc:
        raise bad(f"The file cannot be read to its end: {exc}.") from exc
    return _Parsed(rows)


def check_jsonl_whole(fh, *, compressed: bool, encoding: str) -> None:
    """Every line of a JSON Lines file is one JSON object (read line by line, never whole)."""
    fh.seek(0)
    stream = gzip.GzipFile(fileobj=fh) if compressed else fh
    encoding = encoding or "utf-8"
    try:
        for line_no, raw in enumerate(
            iter(lambda: stream.readline(formats.MAX_LINE_BYTES + 1), b""), start=1
        ):
            if len(raw) > formats.MAX_LINE_BYTES:
                raise bad(formats.line_too_long(line_no, formats.MAX_LINE_BYTES))
            try:
                line = raw.decode(encoding)
            except UnicodeDecodeError as exc:
                raise bad(f"Line {line_no} is not valid {encoding} text. Re-save the file as UTF-8.") from exc
            json_line(line, line_no)
    except (OSError, EOFError, zlib.error) as exc:
        raise bad(f"The file cannot be read to its end: {exc}.") from exc
