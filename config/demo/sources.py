"""The demo's folder source: a small "lake" under DATA_ROOTS that the embedded default catalogues in
place, as a company's object store or shared drive would be: penguin observations partitioned by
year (Hive style: one dataset whose partitions are its parts) and a Parquet file of wine analyses.
Scanned once now and every hour by beat."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from django.conf import settings

from catalog import scans
from catalog import sources as catalog_sources
from catalog.models import Source
from config.demo import files

NAME = "Demo lake"


def write_lake(root: Path) -> Path:
    """The lake's files (written once; a rerun leaves them as they are)."""
    lake = root / "demo-lake"
    for year in (2007, 2008, 2009):
        part = lake / "penguins" / f"year={year}" / "part-0.csv"
        if not part.exists():
            part.parent.mkdir(parents=True, exist_ok=True)
            df = pd.read_csv(io.BytesIO(files.penguins((year,)))).drop(columns=["year"])
            df.to_csv(part, index=False)
    wine = lake / "wine_analyses.parquet"
    if not wine.exists():
        pd.read_csv(io.BytesIO(files.wine())).to_parquet(wine, index=False)
    return lake


def load_sources(users: dict, say: Callable[[str], Any]) -> Source:
    """The demo lake as a folder source owned by the demo owner, scanned now and hourly."""
    lake = write_lake(Path(settings.DATA_ROOTS[0]))
    source = Source.objects.filter(name=NAME).first()
    if source is None:
        source = catalog_sources.create_source(
            actor=users["admin"],
            name=NAME,
            kind="folder",
            uri=lake.as_uri(),
            owner="olivia_owner",
            stewards=["sam_steward"],
            sensitivity="internal",
            schedule="0 * * * *",
        )
        say(f"  source {source.name} ({source.uri})")
    scans.request_scan(actor=users["admin"], source=source)
    return source
