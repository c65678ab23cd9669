"""Proxy detection over date columns (a date32 once failed the whole profile)."""

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq

from profiling.engine import profile_file


def test_date_columns_beside_sensitive_columns_profile(tmp_path):
    n = 400
    days = [dt.date(2007, 11, 1) + dt.timedelta(days=i % 41) for i in range(n)]
    table = pa.table(
        {
            "egg_date": pa.array(days, pa.date32()),
            "sex": pa.array(["male" if i % 2 else "female" for i in range(n)]),
            # Laid later by one sex: a date that is a proxy for it.
            "shifted": pa.array(
                [d + dt.timedelta(days=100 * (i % 2)) for i, d in enumerate(days)], pa.date32()
            ),
            "species": pa.array(["Adelie" if i % 3 else "Gentoo" for i in range(n)]),
        }
    )
    path = tmp_path / "eggs.parquet"
    pq.write_table(table, path)
    result = profile_file(
        str(path),
        format="parquet",
        sensitive_columns=["sex"],
        label_column="species",
        positive_label="Adelie",
    )
    assert result.row_count == n
    assert [p["column"] for p in result.bias["proxies"]] == ["shifted"]

    csv = tmp_path / "eggs.csv"
    csv.write_text(
        "Date Egg,Sex,Species\n"
        + "".join(f"{d.isoformat()},{'MALE' if i % 2 else 'FEMALE'},A\n" for i, d in enumerate(days))
    )
    result = profile_file(
        str(csv), format="csv", sensitive_columns=["Sex"], label_column="Species", positive_label="A"
    )
    assert result.row_count == n and result.bias is not None
