"""Reading every format, and every kind of bad input the issue lists: profiled sensibly or refused clearly."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from profiling.engine import ProfileError, ProfileOptions, iter_batches, profile_file
from profiling.tests.engine.conftest import column

SMALL_BLOCKS = ProfileOptions(block_bytes=64 * 1024)
CSV = "id,name,score\n1,ann,1.5\n2,bob,2.5\n3,cy,\n"


def test_csv_tsv_gzip_and_jsonl_give_the_same_figures(write):
    paths = {
        ("csv", ""): write("a.csv", CSV),
        ("csv", "gzip"): write("a.csv.gz", CSV, gz=True),
        ("tsv", ""): write("a.tsv", CSV.replace(",", "\t")),
        ("tsv", "gzip"): write("a.tsv.gz", CSV.replace(",", "\t"), gz=True),
    }
    rows = [
        {"id": 1, "name": "ann", "score": 1.5},
        {"id": 2, "name": "bob", "score": 2.5},
        {"id": 3, "name": "cy", "score": None},
    ]
    jsonl = "\n".join(json.dumps(r) for r in rows) + "\n"
    paths[("jsonl", "")] = write("a.jsonl", jsonl)
    paths[("jsonl", "gzip")] = write("a.jsonl.gz", jsonl, gz=True)
    for (fmt, comp), path in paths.items():
        r = profile_file(path, format=fmt, compression=comp)
        assert r.row_count == 3, (fmt, comp)
        assert [c["type"] for c in r.schema] == ["integer", "string", "float"], (fmt, comp, r.schema)
        score = column(r, "score")
        assert score["null_count"] == 1 and score["mean"] == pytest.approx(2.0)


def test_iter_batches_streams_in_batches_and_selects_columns(write):
    path = write("many.csv", "a,b\n" + "".join(f"{i},{i % 7}\n" for i in range(1000)))
    batches = list(iter_batches(path, format="csv", batch_rows=100, columns=["b"]))
    assert sum(b.num_rows for b in batches) == 1000
    assert all(b.num_rows <= 100 for b in batches)
    assert all(b.schema.names == ["b"] for b in batches)
    # Small blocks are joined up to batch_rows: a consumer with a per-batch cost sees few batches.
    sizes = [b.num_rows for b in iter_batches(path, format="csv", batch_rows=300, block_bytes=4096)]
    assert sizes == [300, 300, 300, 100]


def test_ragged_rows_are_skipped_and_counted(write):
    path = write("ragged.csv", "a,b\n1,2\n3,4,5\n6,7\n8\n")
    r = profile_file(path, format="csv")
    assert r.row_count == 2
    assert r.method["skipped_rows"] == 2
    assert any("ragged" in w for w in r.warnings)


def test_a_column_that_turns_from_numbers_to_text_is_read_as_text(write):
    # The text comes long after the first block, so pyarrow first infers integers.
    lines = "".join(f"{i},{i}\n" for i in range(20_000))
    path = write("mixed.csv", "n,m\n" + lines + "7,oops\n")
    r = profile_file(path, format="csv", options=SMALL_BLOCKS)
    assert r.row_count == 20_001
    assert r.method["read_types"] == {"m": "string"}
    assert column(r, "m")["type"] == "string"
    assert column(r, "n")["type"] == "integer"
    assert any("m" in w and "mixes" in w for w in r.warnings)
    # iter_batches, given the profile's read types, yields one consistent schema.
    types = {
        b.schema.field("m").type
        for b in iter_batches(path, format="csv", column_types=r.method["read_types"])
    }
    assert types == {pa.string()}
    # Without them, later batches carry the wider type, and no row is lost or repeated.
    batches = list(iter_batches(path, format="csv", batch_rows=1000, block_bytes=64 * 1024))
    assert sum(b.num_rows for b in batches) == 20_001
    assert batches[-1].schema.field("m").type == pa.string()


def test_integers_that_turn_into_floats_are_read_as_floats(write):
    path = write("f.csv", "x\n" + "".join(f"{i}\n" for i in range(20_000)) + "0.5\n")
    r = profile_file(path, format="csv", options=SMALL_BLOCKS)
    assert column(r, "x")["type"] == "float"
    assert column(r, "x")["min"] == 0.0


def test_mixed_numbers_and_text_in_one_block_warn(write):
    path = write(
        "m.csv", "v\n" + "".join(f"{i}\n" for i in range(60)) + "".join(f"word{i}\n" for i in range(40))
    )
    r = profile_file(path, format="csv")
    assert column(r, "v")["type"] == "string"
    assert any("mixes numbers and text" in w for w in r.warnings)


def test_an_all_null_column_is_reported_empty(write):
    path = write("n.csv", "a,b\n1,\n2,\n3,\n")
    r = profile_file(path, format="csv")
    b = column(r, "b")
    assert b["null_count"] == 3 and b["null_fraction"] == 1.0 and b["distinct_count"] == 0
    assert any("b is empty" in w for w in r.warnings)


def test_a_column_empty_in_the_first_block_then_numbers(write):
    path = write("late.csv", "a,b\n" + "".join(f"{i},\n" for i in range(20_000)) + "1,2.5\n")
    r = profile_file(path, format="csv", options=SMALL_BLOCKS)
    assert column(r, "b")["type"] == "float"
    assert column(r, "b")["null_count"] == 20_000


def test_zero_rows(write, tmp_path):
    r = profile_file(write("h.csv", "a,b\n"), format="csv")
    assert r.row_count == 0 and [c["name"] for c in r.columns] == ["a", "b"]
    assert r.columns[0]["null_fraction"] is None
    assert any("no rows" in w for w in r.warnings)
    pq.write_table(pa.table({"x": pa.array([], pa.int64())}), tmp_path / "e.parquet")
    r = profile_file(str(tmp_path / "e.parquet"), format="parquet")
    assert r.row_count == 0 and r.schema == [{"name": "x", "type": "integer"}]
    r = profile_file(write("e.jsonl", ""), format="jsonl")
    assert r.row_count == 0 and r.columns == []


def test_one_column(write):
    r = profile_file(write("one.csv", "only\nx\ny\nx\ny\nx\n"), format="csv")
    assert r.schema == [{"name": "only", "type": "categorical"}]


def test_two_thousand_columns(write):
    header = ",".join(f"c{i}" for i in range(2000))
    rows = "".join(",".join(str((r * i) % 5) for i in range(2000)) + "\n" for r in range(50))
    r = profile_file(write("wide.csv", header + "\n" + rows), format="csv")
    assert len(r.columns) == 2000 and r.row_count == 50
    assert column(r, "c1")["distinct_count"] == 5


def test_bytes_that_are_not_utf8_fail_clearly(write):
    path = write("bad.csv", b"a,b\n1,caf\xe9\n2,ok\n")
    with pytest.raises(ProfileError, match="not valid UTF-8"):
        profile_file(path, format="csv")
    # The same bytes, declared latin-1 as file inspection would find them, are read.
    r = profile_file(path, format="csv", encoding="latin-1")
    assert column(r, "b")["top_values"][0]["value"] in ("café", "ok")


def test_a_line_longer_than_the_limit_fails_clearly(write):
    path = write("long.csv", "a,b\n1,x\n2," + "y" * 300_000 + "\n")
    options = ProfileOptions(max_row_bytes=200_000, block_bytes=64 * 1024)
    with pytest.raises(ProfileError, match="longer than"):
        profile_file(path, format="csv", options=options)


def test_a_line_longer_than_a_block_but_within_the_limit_is_read(write):
    path = write("long.csv", "a,b\n1,x\n2," + "y" * 150_000 + "\n")
    r = profile_file(path, format="csv", options=ProfileOptions(block_bytes=64 * 1024))
    assert r.row_count == 2


def test_parquet_with_nested_types(tmp_path):
    table = pa.table(
        {
            "id": [1, 2, 3],
            "address": [{"city": "Paris", "zip": 75001}, {"city": "Lyon", "zip": 69001}, None],
            "tags": [["a", "b"], [], None],
            "when": pa.array([0, 86_400, None], pa.timestamp("s", tz="UTC")),
        }
    )
    path = tmp_path / "n.parquet"
    pq.write_table(table, path)
    r = profile_file(str(path), format="parquet")
    names = [c["name"] for c in r.schema]
    assert names == ["id", "address.city", "address.zip", "tags", "when"]
    assert column(r, "address.zip")["type"] == "integer"
    assert column(r, "tags")["type"] == "string" and column(r, "tags")["null_count"] == 1
    assert any("tags" in w and "nested" in w for w in r.warnings)
    assert column(r, "when")["min"] == "1970-01-01T00:00:00.000000Z"


def test_jsonl_with_nested_objects_and_changing_types(write):
    rows = [{"a": i, "o": {"x": i}} for i in range(5)] + [{"a": "five", "o": {"x": 5}}]
    r = profile_file(write("j.jsonl", "\n".join(json.dumps(x) for x in rows) + "\n"), format="jsonl")
    assert r.row_count == 6
    assert column(r, "a")["type"] == "string"
    assert column(r, "o.x")["type"] == "integer"


def test_jsonl_that_is_not_json_fails_clearly(write):
    with pytest.raises(ProfileError, match="JSON"):
        profile_file(write("bad.jsonl", '{"a": 1}\nnot json\n'), format="jsonl")


def test_corrupt_parquet_and_unknown_format_fail_clearly(write):
    with pytest.raises(ProfileError, match="Parquet"):
        profile_file(write("x.parquet", b"PAR1garbagePAR1"), format="parquet")
    with pytest.raises(ProfileError, match="Unknown format"):
        profile_file(write("x.csv", CSV), format="xlsx")
    with pytest.raises(ProfileError, match="does not exist"):
        profile_file("/nonexistent/file.csv", format="csv")


def test_progress_is_reported_and_ends_at_one(write):
    seen = []
    path = write("p.csv", "a\n" + "".join(f"{i}\n" for i in range(10_000)))
    profile_file(path, format="csv", progress=seen.append)
    assert seen and seen[-1] == 1.0
    assert all(0.0 <= f <= 1.0 for f in seen)
    assert seen == sorted(seen)


def test_result_is_json_serialisable(write):
    r = profile_file(write("a.csv", CSV + "4,dee,1e3\n"), format="csv", sensitive_columns=["name"])
    json.dumps(
        {"columns": r.columns, "bias": r.bias, "drift": r.drift_state, "method": r.method, "pii": r.pii}
    )
    assert np is not None


def test_quoted_values_that_span_lines_across_blocks(write):
    rows = "".join(f'{i},"first line {i}\nsecond, line"\n' for i in range(2_000))
    path = write("nl.csv", "id,comment\n" + rows)
    r = profile_file(path, format="csv", options=ProfileOptions(block_bytes=4096))
    assert r.row_count == 2_000
    assert r.method["skipped_rows"] == 0
    assert column(r, "comment")["distinct_count"] == 2_000


def test_iter_batches_with_selected_columns_survives_a_retype(write):
    lines = "".join(f"{i},{i},x{i}\n" for i in range(20_000))
    path = write("mx.csv", "n,m,s\n" + lines + "7,oops,y\n")
    batches = list(iter_batches(path, format="csv", columns=["s", "m"], block_bytes=65536, batch_rows=5000))
    assert sum(b.num_rows for b in batches) == 20_001
    assert all(b.schema.names == ["s", "m"] for b in batches)
    assert batches[-1].column("m").to_pylist()[-1] == "oops"


def test_latin1_json_lines(write):
    path = write("l1.jsonl", '{"a": "café"}\n{"a": "naïve"}\n'.encode("latin-1"))
    r = profile_file(path, format="jsonl", encoding="latin-1")
    assert {t["value"] for t in column(r, "a")["top_values"]} == {"café", "naïve"}
    assert column(r, "a")["min"] == "café"


def test_a_header_that_repeats_names_is_renamed(write):
    path = write("dup.csv", "a,a,b,a_2\n1,2,3,4\n5,6,7,8\n")
    r = profile_file(path, format="csv")
    assert [c["name"] for c in r.schema] == ["a", "a_3", "b", "a_2"]
    assert column(r, "a_3")["max"] == 6
    assert any("repeats column names" in w for w in r.warnings)
    batch = next(iter_batches(path, format="csv", columns=["a_3"]))
    assert batch.column("a_3").to_pylist() == [2, 6]


def test_jsonl_read_types_give_one_schema(write):
    rows = "".join(f'{{"a": {i}}}\n' for i in range(3000)) + '{"a": "x"}\n'
    path = write("m.jsonl", rows)
    r = profile_file(path, format="jsonl", options=ProfileOptions(block_bytes=4096))
    assert r.method["read_types"] == {"a": "mixed"}
    types = {
        b.schema.field("a").type
        for b in iter_batches(path, format="jsonl", column_types=r.method["read_types"])
    }
    assert types == {pa.string()}


def test_a_failed_profile_leaves_no_thread_behind_and_the_next_one_runs(write):
    import threading

    before = threading.active_count()
    bad = write("long.csv", "a,b\n1,x\n2," + "y" * 300_000 + "\n")
    for _ in range(3):
        with pytest.raises(ProfileError):
            profile_file(
                bad, format="csv", options=ProfileOptions(max_row_bytes=200_000, block_bytes=64 * 1024)
            )
    assert profile_file(write("ok.csv", CSV), format="csv").row_count == 3
    assert threading.active_count() == before


def test_the_interpreter_exits_after_a_failed_profile(write):
    # pyarrow I/O threads reading a Python file object once hung the interpreter at exit.
    import subprocess
    import sys

    bad = write("long.csv", "a,b\n1,x\n2," + "y" * 300_000 + "\n")
    code = (
        "from profiling.engine import ProfileError, ProfileOptions, profile_file\n"
        "try:\n"
        f"    profile_file({bad!r}, format='csv', options=ProfileOptions(max_row_bytes=200_000, block_bytes=65536))\n"
        "except ProfileError:\n"
        "    print('refused')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=".")
    assert out.returncode == 0 and out.stdout.strip() == "refused"


def test_the_engine_is_pure_python_without_django():
    import subprocess
    import sys

    code = "import sys, profiling.engine; print('django' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=".")
    assert out.stdout.strip() == "False"


# pyarrow cannot hand a binary ragged row to the row handler (it fails to decode it first) and
# reports that as an "exception ignored"; the read then fails as it should.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_damaged_gzip_and_binary_read_as_text_fail_with_a_readable_message(write, tmp_path):
    import gzip as gz

    whole = gz.compress(("a,b\n" + "".join(f"{i},{i}\n" for i in range(50_000))).encode())
    with pytest.raises(ProfileError, match="compressed data of the file is damaged"):
        profile_file(write("t.csv.gz", whole[: len(whole) // 2]), format="csv", compression="gzip")
    with pytest.raises(ProfileError, match="not gzip data"):
        profile_file(write("plain.csv", CSV), format="csv", compression="gzip")
    with pytest.raises(ProfileError, match="given as uncompressed"):
        profile_file(write("z.csv.gz", CSV, gz=True), format="csv")
    pq.write_table(pa.table({"x": list(range(1000))}), tmp_path / "p.parquet")
    with pytest.raises(ProfileError, match="Parquet, not CSV"):
        profile_file(str(tmp_path / "p.parquet"), format="csv")
    # Binary that is no known format: the reader's complaint, short and printable.
    with pytest.raises(ProfileError) as info:
        profile_file(write("b.csv", bytes(range(256)) * 50), format="csv")
    assert str(info.value).isprintable() and len(str(info.value)) < 400


def test_json_lines_dates_are_datetimes_unless_a_later_value_is_not_one(write):
    rows = "".join(f'{{"d": "2024-01-{1 + i % 28:02d}T10:00:00Z", "s": "2024-02-01"}}\n' for i in range(3000))
    r = profile_file(write("d.jsonl", rows), format="jsonl", options=ProfileOptions(block_bytes=4096))
    assert column(r, "d")["type"] == "datetime" and column(r, "d")["max"].startswith("2024-01-28T10:00:00")
    assert column(r, "s")["type"] == "datetime"
    later = rows + '{"d": "soon", "s": "2024-02-02"}\n'
    r = profile_file(write("e.jsonl", later), format="jsonl", options=ProfileOptions(block_bytes=4096))
    assert column(r, "d")["type"] in ("string", "categorical") and column(r, "s")["type"] == "datetime"
    assert r.row_count == 3001


class Interrupted(Exception):  # noqa: N818 -- stands for Celery's SoftTimeLimitExceeded (an Exception)
    pass


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_an_exception_from_a_signal_handler_goes_through(write, tmp_path, fmt):
    """Celery's soft time limit raises from a signal handler wherever the main thread is: the engine
    must let it through, not swallow it or turn it into a ProfileError."""
    import signal

    table = pa.table({"a": np.arange(300_000), "b": np.arange(300_000) % 7})
    path = str(tmp_path / f"big.{fmt}")
    if fmt == "parquet":
        pq.write_table(table, path, row_group_size=10_000)
    elif fmt == "jsonl":
        table.to_pandas().to_json(path, orient="records", lines=True)
    else:
        table.to_pandas().to_csv(path, index=False)

    def handler(signum, frame):
        raise Interrupted()

    previous = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.02, 0.02)  # again and again until it lands
        with pytest.raises(Interrupted):
            for _ in range(50):
                profile_file(
                    path, format=fmt, options=ProfileOptions(block_bytes=64 * 1024, batch_rows=5_000)
                )
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_progress_callback_that_raises_stops_the_profile(write):
    path = write("p.csv", "a\n" + "".join(f"{i}\n" for i in range(50_000)))

    def stop(fraction):
        raise Interrupted()

    with pytest.raises(Interrupted):
        profile_file(path, format="csv", progress=stop, options=ProfileOptions(block_bytes=64 * 1024))


@pytest.mark.parametrize(
    "text, late",
    [
        ('{"a":1}\n{"a":"x","b":"y"}\n', {"b"}),
        ('{"a":1}\n{"a":"x","b":[1,2]}\n{"c":{"d":null}}\n', {"b", "c.d"}),
    ],
)
def test_json_lines_fields_that_start_late_survive_a_restart_as_text(write, text, late):
    """QA G16: once a field changed type (the tolerant line-by-line reader), fields first seen after
    line 1 were silently dropped, and with them their PII and quality checks."""
    r = profile_file(write("late.jsonl", text), format="jsonl")
    names = {c["name"] for c in r.columns}
    assert {"a"} | late <= names, names
    assert r.method.get("restarts")
