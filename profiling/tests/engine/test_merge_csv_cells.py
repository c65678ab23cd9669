"""CSV cells: cut points at true record starts (quoted newlines, doubled quotes, quotes inside
unquoted values, CRLF, a BOM), checked against a reference parser with pyarrow's rules; a file read
in cells gives the rows and figures of the file read whole; and parts of a CSV whose quoted values
hold newlines across a cut point merge into the profile of one pass."""

import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.csv_cuts import cut_after
from profiling.engine import ProfileOptions, prepare, profile_file
from profiling.engine.cells import CellFile, csv_cells, splittable_encoding
from profiling.tests.engine.conftest import column, profile_in_parts

CELLS = ProfileOptions(cell_bytes=4096)


def record_starts(data: bytes, delimiter: int = ord(",")) -> set[int]:
    """Offsets just after a newline that ends a record, by pyarrow's parser's rules
    (arrow/csv/parser.cc: quoting only at a field's start, "" inside quotes, CR LF)."""
    starts: set[int] = set()
    i, n, state = (3 if data.startswith(b"\xef\xbb\xbf") else 0), len(data), "start"
    while i < n:
        c = data[i]
        if state == "start":
            state = "quoted" if c == 0x22 else "field"
            i += 1 if c == 0x22 else 0
        elif state == "field":
            if c == delimiter:
                state = "start"
            elif c == 0x0A:
                starts.add(i + 1)
                state = "start"
            elif c == 0x0D:
                if i + 1 < n and data[i + 1] == 0x0A:
                    i += 1
                    starts.add(i + 1)
                state = "start"
            i += 1
        elif c == 0x22 and i + 1 < n and data[i + 1] == 0x22:
            i += 2
        else:
            state = "field" if c == 0x22 else "quoted"
            i += 1
    return starts


PIECES = [b"a", b"7", b",", b'"', b'""', b"\n", b"\r\n", b"'", b" ", b'"x,\ny"', b"5'11\""]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=80), st.data())
def test_every_cut_is_a_true_record_start(pieces, data):
    text = b"h1,h2\n" + b"".join(pieces)
    truth = record_starts(text)
    with tempfile.NamedTemporaryFile("wb", suffix=".csv") as fh:
        fh.write(text)
        fh.flush()
        with open(fh.name, "rb", buffering=0) as raw:
            # From the file's start the state is known: the header ends at the first record end.
            assert cut_after(raw, 0, len(text), ord(","), 1 << 20, known=True) == 6
            for max_row in (1 << 20, data.draw(st.integers(1, 64))):
                point = data.draw(st.integers(1, len(text) - 1)) if len(text) > 1 else 1
                cut = cut_after(raw, point, len(text), ord(","), max_row, known=False)
                if cut is None or cut >= len(text):
                    continue
                longest = max(b - a for a, b in zip([0, *sorted(truth)], [*sorted(truth), len(text)]))
                if longest <= max_row:  # rows longer than max_row bytes are refused when read
                    assert cut in truth, (text, point, cut)
                    assert cut > point


def test_a_quoted_value_with_lines_that_look_like_records_is_not_cut(tmp_path):
    # Each cell boundary falls inside a quoted value whose lines have the header's field count:
    # cutting at a newline and checking the field count would cut there; the quotes say no.
    note = '"' + "\n".join("x,y" for _ in range(400)) + '"'
    rows = [f"{i},{note}" if i % 3 == 0 else f'{i},"plain {i}"' for i in range(60)]
    text = "id,note\n" + "\n".join(rows) + "\n"
    path = tmp_path / "q.csv"
    path.write_text(text)
    cells, header_end = csv_cells(str(path), delimiter=",", cell_bytes=4096, max_row_bytes=1 << 20)
    assert header_end == len("id,note\n")
    assert len(cells) > 5
    truth = record_starts(text.encode())
    assert all(c.start in truth for c in cells[1:])
    assert cells[0].start == 0 and cells[-1].end == len(text.encode())
    assert all(a.end == b.start for a, b in zip(cells, cells[1:], strict=False))


def test_quoted_newlines_across_cut_points_give_one_pass_figures(tmp_path):
    rng = np.random.default_rng(5)
    n = 3000
    notes = [
        f'line one {i}\nline two, with a comma\n"quoted" {i % 17}' if i % 4 == 0 else f"plain {i % 50}"
        for i in range(n)
    ]
    table = pa.table(
        {
            "id": np.arange(n),
            "note": notes,
            "group": rng.choice(["a", "b", "c"], n),
            "x": np.round(rng.normal(size=n), 3),
            "label": rng.integers(0, 2, n),
        }
    )
    path = str(tmp_path / "notes.csv")
    pacsv.write_csv(table, path)
    # Blocks as small as cells: pyarrow's chunker cuts a block inside a quoted value, the read
    # restarts with quoted newlines allowed, in one pass as in parts.
    options = ProfileOptions(cell_bytes=4096, block_bytes=4096)
    kw = dict(
        format="csv", sensitive_columns=["group"], label_column="label", positive_label=1, options=options
    )
    one = profile_file(path, **kw)
    merged, spec = profile_in_parts(path, 4, **kw)
    assert len(spec.cells) > 10 and merged.method["parts"] == 4
    truth = record_starts(open(path, "rb").read())
    assert all(c.start in truth for c in spec.cells[1:])
    assert one.method["restarts"] == merged.method["restarts"]
    assert "a quoted value spans lines" in merged.method["restarts"]
    assert one.row_count == merged.row_count == n
    assert one.columns == merged.columns
    assert one.bias == merged.bias and one.pii == merged.pii and one.warnings == merged.warnings
    assert column(one, "note")["distinct_count"] == len(set(notes))


TRICKY = {
    "ragged": "a,b\n" + "".join(f"{i},{i % 5}\n" if i % 97 else f"{i},1,2\n" for i in range(2000)),
    "retype": "a,b\n" + "".join(f"{i},{i}\n" for i in range(1500)) + "x,1.5\n" + "7,8\n" * 100,
    "late_values": "a,b\n"
    + "".join(f"{i},\n" for i in range(1500))
    + "".join(f"{i},{i}\n" for i in range(300)),
    "renamed": "a,a,b\n" + "".join(f"{i},{i * 2},z{i % 9}\n" for i in range(1500)),
    "crlf_bom": "\ufeffa,b\r\n" + "".join(f'{i},"v\r\n{i % 7}"\r\n' for i in range(1200)),
    "big_ids": "id,v\n" + "".join(f"{2**63 + i * 1000},{i}\n" for i in range(1500)),
}


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_a_file_read_in_cells_gives_the_figures_of_the_file_read_whole(write, name):
    path = write(f"{name}.csv", TRICKY[name])
    small_blocks = dict(block_bytes=4096)
    whole = profile_file(path, format="csv", options=ProfileOptions(**small_blocks))
    cells = profile_file(path, format="csv", options=ProfileOptions(cell_bytes=4096, **small_blocks))
    assert cells.method["cells"] > 1
    assert cells.row_count == whole.row_count
    assert cells.method["read_types"] == whole.method["read_types"]
    # Where pyarrow's blocks end differs (a block never spans two cells): so may restarts that
    # change only how the text is cut into blocks, never a figure.
    assert _about_types(cells.method["restarts"]) == _about_types(whole.method["restarts"])
    assert cells.method["skipped_rows"] == whole.method["skipped_rows"]
    for a, b in zip(whole.columns, cells.columns, strict=True):
        assert a == b
    assert cells.warnings == whole.warnings


def _about_types(restarts: list[str]) -> list[str]:
    return [r for r in restarts if r not in ("a quoted value spans lines", "row longer than the block size")]


def test_cells_of_a_latin1_file_and_a_tsv(tmp_path):
    text = "nom\tville\n" + "".join(f"{i}\tSaint-Étienne {i % 11}\n" for i in range(3000))
    path = tmp_path / "a.tsv"
    path.write_bytes(text.encode("latin-1"))
    whole = profile_file(str(path), format="tsv", encoding="latin-1")
    cells = profile_file(str(path), format="tsv", encoding="latin-1", options=CELLS)
    assert cells.method["cells"] > 1
    assert cells.columns == whole.columns
    assert column(cells, "ville")["top_values"][0]["value"].startswith("Saint-Étienne")


def test_what_cannot_be_cut_is_one_cell(tmp_path):
    assert splittable_encoding("utf-8") and splittable_encoding("latin-1") and splittable_encoding("cp1252")
    assert not splittable_encoding("utf-16") and not splittable_encoding("no-such-codec")
    path = tmp_path / "a.csv"
    path.write_text("a\n" + "1\n" * 10_000)
    assert len(prepare(str(path), format="csv", options=CELLS).cells) > 1
    assert len(prepare(str(path), format="csv").cells) == 1  # smaller than a cell
    path16 = tmp_path / "b.csv"
    path16.write_bytes(("a\n" + "1\n" * 10_000).encode("utf-16"))
    assert len(prepare(str(path16), format="csv", encoding="utf-16", options=CELLS).cells) == 1


def test_a_cell_file_puts_the_header_in_front():
    with tempfile.NamedTemporaryFile("wb", suffix=".csv") as fh:
        fh.write(b"a,b\n1,x\n2,y\n3,z\n")
        fh.flush()
        first = pacsv.open_csv(pa.input_stream(CellFile(fh.name, 4, 0, 8))).read_all()
        rest = pacsv.open_csv(pa.input_stream(CellFile(fh.name, 4, 8, 16))).read_all()
    assert first.to_pylist() == [{"a": 1, "b": "x"}]
    assert rest.to_pylist() == [{"a": 2, "b": "y"}, {"a": 3, "b": "z"}]
