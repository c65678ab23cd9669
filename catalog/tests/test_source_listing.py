"""From a listing to datasets (catalog.connectors.listing): the rules object storage and folder
sources share, on listings made up here (no I/O), at the sizes a real bucket reaches."""

import random

import pytest

from catalog.connectors.base import Problem
from catalog.connectors.listing import Candidate, Entry, fingerprint, format_of, group, reference


def names(results):
    return [r.name for r in results]


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("a.csv", ("csv", "")),
        ("a.CSV", ("csv", "")),
        ("a.tsv.gz", ("tsv", "gzip")),
        ("part-0.parquet", ("parquet", "")),
        ("part-0.pq", ("parquet", "")),
        ("events.jsonl", ("jsonl", "")),
        ("events.ndjson.gz", ("jsonl", "gzip")),
        ("a.parquet.gz", ("parquet", "gzip")),
        ("notes.txt", None),
        ("a.csv.bz2", None),
        ("archive.gz", None),
        (".csv", None),
        ("README", None),
    ],
)
def test_format_comes_from_the_extension(filename, expected):
    assert format_of(filename) == expected


def test_a_hive_partitioned_folder_is_one_dataset_and_other_files_their_own():
    entries = [
        Entry("raw/sales/_SUCCESS", 0, "e0"),
        Entry("raw/sales/date=2026-12-01/hour=01/part-0.parquet", 10, "e1"),
        Entry("raw/sales/date=2026-12-01/hour=02/part-0.parquet", 11, "e2"),
        Entry("raw/sales/date=2026-12-02/hour=01/part-0.parquet", 12, "e3"),
        Entry("raw/sales/date=2026-12-02/hour=01/part-0.parquet.crc", 1, "e4"),
        Entry("raw/users.csv", 5, "e5"),
        Entry("raw/_temporary/0/part.csv", 5, "e6"),
        Entry("raw/.hidden.csv", 5, "e7"),
        Entry("raw/notes/", 0, "e8"),
    ]
    results = list(group(entries, base="raw/"))
    assert names(results) == ["raw/sales", "raw/users.csv"]
    sales = results[0]
    assert sales.partition_keys == ["date", "hour"]
    assert sales.format == "parquet" and sales.size_bytes == 33
    assert [sales.relative(p) for p in sales.parts] == [
        "date=2026-12-01/hour=01/part-0.parquet",
        "date=2026-12-01/hour=02/part-0.parquet",
        "date=2026-12-02/hour=01/part-0.parquet",
    ]
    ref = reference(sales, path_field="key", stamp_field="etag")
    assert ref["partitioning"] == "hive" and ref["partition_keys"] == ["date", "hour"]
    assert ref["parts"][0] == {"key": "date=2026-12-01/hour=01/part-0.parquet", "size": 10, "etag": "e1"}
    assert reference(results[1], path_field="key", stamp_field="etag") == {"size": 5, "etag": "e5"}


def test_layout_files_makes_every_file_a_dataset():
    entries = [Entry(f"t/date=2026-12-0{i}/part.csv", 3, str(i)) for i in range(1, 4)]
    results = list(group(entries, base="", layout="files"))
    assert names(results) == [e.path for e in entries]
    assert all(not r.partitioned for r in results)


def test_partitions_count_from_the_sources_root():
    # A source pointed inside a partition sees its files as files, and a folder of partitions at
    # its root as one dataset named after that root.
    entry = Entry("sales/date=2026-12-01/part.csv", 3, "e")
    assert names(group([entry], base="sales/date=2026-12-01/")) == ["sales/date=2026-12-01/part.csv"]
    assert names(group([entry], base="sales/")) == ["sales"]


def test_partitions_right_under_a_buckets_root_are_a_problem_said_once():
    entries = [Entry(f"date=2026-12-0{i}/part.csv", 3, "e") for i in range(1, 4)]
    results = list(group(entries, base=""))
    assert len(results) == 1 and isinstance(results[0], Problem)
    assert "root" in results[0].message


def test_mixed_formats_under_one_partitioned_folder_are_a_problem():
    entries = [
        Entry("t/date=1/a.parquet", 1, "a"),
        Entry("t/date=2/b.csv", 1, "b"),
        Entry("t/date=3/c.parquet", 1, "c"),
        Entry("u.csv", 1, "d"),
    ]
    problem, other = group(entries, base="")
    assert isinstance(problem, Problem) and problem.name == "t"
    assert "csv: 1" in problem.message and "parquet: 2" in problem.message
    assert other.name == "u.csv"


def test_parts_under_different_partition_keys_are_a_problem():
    entries = [Entry("t/date=1/a.csv", 1, "a"), Entry("t/date=2/hour=3/b.csv", 1, "b")]
    (problem,) = group(entries, base="")
    assert isinstance(problem, Problem) and "date/hour" in problem.message


def test_globs_select_files_by_path():
    entries = [
        Entry("raw/a.csv", 1, "a"),
        Entry("raw/b.parquet", 1, "b"),
        Entry("raw/tmp/c.csv", 1, "c"),
        Entry("raw/sales/date=1/p.csv", 1, "d"),
    ]
    assert names(group(entries, base="raw/", include=["*.csv"])) == [
        "raw/a.csv",
        "raw/tmp/c.csv",
        "raw/sales",
    ]
    assert names(group(entries, base="raw/", exclude=["*/tmp/*", "raw/sales/*"])) == [
        "raw/a.csv",
        "raw/b.parquet",
    ]
    # glob_from: the folder source matches paths under its own folder.
    assert names(group(entries, base="raw/", include=["sales/*"], glob_from=4)) == ["raw/sales"]


def test_a_folder_is_handed_on_as_soon_as_the_listing_leaves_it():
    consumed = []

    def listing():
        for path in ["a/d=1/x.csv", "a/d=2/x.csv", "b.csv", "c.csv"]:
            consumed.append(path)
            yield Entry(path, 1, path)

    results = group(listing(), base="")
    assert next(results).name == "a"
    assert consumed == ["a/d=1/x.csv", "a/d=2/x.csv", "b.csv"]


def test_unordered_listings_are_held_to_the_end():
    paths = [f"t/d={i % 7}/part-{i}.csv" for i in range(50)] + ["u.csv"]
    shuffled = paths[:]
    random.Random(3).shuffle(shuffled)
    in_order = [r for r in group([Entry(p, 1, p) for p in sorted(paths)], base="") if r.name == "t"]
    held = [r for r in group([Entry(p, 1, p) for p in shuffled], base="", ordered=False) if r.name == "t"]
    assert len(held) == 1 and len(held[0].parts) == 50
    assert fingerprint(held[0]) == fingerprint(in_order[0])


def test_fingerprint_moves_with_any_part_and_only_then():
    def dataset(parts):
        return Candidate(
            "t",
            "csv",
            "",
            [Entry(f"t/d={i}/p.csv", size, stamp, version) for i, (size, stamp, version) in enumerate(parts)],
            ["d"],
        )

    base = dataset([(1, "a", None), (2, "b", None)])
    assert fingerprint(base) == fingerprint(dataset([(1, "a", None), (2, "b", None)]))
    assert fingerprint(base) != fingerprint(dataset([(1, "a", None), (2, "c", None)]))  # rewritten
    assert fingerprint(base) != fingerprint(dataset([(1, "a", None), (3, "b", None)]))  # resized
    assert fingerprint(base) != fingerprint(dataset([(1, "a", None), (2, "b", "v2")]))  # new version
    assert fingerprint(base) != fingerprint(dataset([(1, "a", None)]))  # a part gone
    assert len(fingerprint(base)) == 64


def test_a_hundred_thousand_objects_group_in_one_pass():
    """The size the issue names: 100,000 objects under one prefix, grouped as a listing streams."""
    parts = (
        Entry(f"lake/events/day={i // 1000:03d}/part-{i:06d}.parquet", 100, f"e{i}") for i in range(100_000)
    )
    files = (Entry(f"lake/files/f-{i:06d}.csv", 10, f"f{i}") for i in range(100_000))

    def listing():
        yield from parts
        yield from files

    count = 0
    events = None
    for result in group(listing(), base="lake/"):
        if result.name == "lake/events":
            events = result
        count += 1
    assert count == 100_001
    assert events is not None and len(events.parts) == 100_000 and events.partition_keys == ["day"]
    assert len(fingerprint(events)) == 64
