"""The demo's monitor: the penguins' two versions judged against version 1, the pinned reference."""

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError

from profiling.models import Monitor
from profiling.monitors import set_monitor

RULES = [
    {"metric": "psi", "op": ">", "threshold": 0.2},
    {"metric": "ks_pvalue", "column": "body_mass_g", "op": "<", "threshold": 0.01},
    {"metric": "quality_score", "op": "<", "threshold": 0.9},
    {"metric": "null_fraction", "column": "sex", "op": ">", "threshold": 0.05},
    {"metric": "schema_change"},
]


def load_monitoring(users: dict, datasets: dict, warn: Callable[[str], Any]) -> None:
    """Olivia watches the penguins: drift of any column and of body mass, quality, missing sex."""
    penguins = datasets["ecology/palmer_penguins"]
    if Monitor.objects.filter(dataset=penguins).exists():
        return
    try:
        set_monitor(actor=users["olivia_owner"], dataset=penguins, reference=1, rules=RULES, via="api")
    except ValidationError as exc:  # keep the rest of the demo if the data's columns changed
        warn(f"  monitor not set: {exc}")
