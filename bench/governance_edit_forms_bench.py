"""Server time of the web UI's governance edit forms, each beside the API call that does the same.

- the access panel (htmx) as a steward, with the policy in words and its edit form  vs  GET /api/v1/clearance
  for the same dataset and user (the panel's core); the same panel as an outsider (no form), same baseline;
- saving a policy from the panel (htmx POST, the panel re-rendered)  vs  PUT /api/v1/datasets/{id}/policy/;
- the model page as its owner (card + edit form)  vs  GET /api/v1/models/{id}/card;
- saving intended use and caveats (htmx POST, the card re-rendered)  vs  PATCH /api/v1/models/{id}/.

Saves alternate between two values, so every one writes and is audited. One profiled dataset with a
bias condition (so the panel's clearance reads the profile) in a database of its own; the catalog's
size does not enter these pages (one dataset by primary key or URN), so none is loaded.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h_ui_bench .venv/bin/python bench/governance_edit_forms_bench.py

Options: --repeat N (requests per case, 30).
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/h_ui_bench")
os.environ.setdefault("STATIC_ROOT", "/tmp/h_ui_bench_static")  # DEBUG off: a manifest of our own

import ui_pages_bench as ui  # noqa: E402  (creates the database, sets Django up production-like)
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from catalog import services as catalog_services  # noqa: E402
from catalog import versions as catalog_versions  # noqa: E402
from catalog.models import Dataset  # noqa: E402
from governance import dataset_policies, registry  # noqa: E402
from governance.models import ModelVersion  # noqa: E402

HTMX = {"HTTP_HX_REQUEST": "true"}
CSV = "id,sex,income,hired\n" + "".join(
    f"{i},{'FM'[i % 2]},{1000 + i * 7 % 900},{int(i % 3 > 0)}\n" for i in range(500)
)


def setup():
    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    User = get_user_model()
    owner, steward, outsider = (
        User.objects.get_or_create(username=n)[0] for n in ("e_owner", "e_steward", "e_out")
    )
    dataset = Dataset.objects.filter(namespace="s3://edit-bench", name="hr/applicants").first()
    if dataset is None:
        dataset = catalog_services.create_dataset(
            actor=owner,
            namespace="s3://edit-bench",
            name="hr/applicants",
            sensitivity="confidential",
            stewards=[steward.username],
            sensitive_columns=["sex"],
            label_column="hired",
            positive_label="1",
        )
        upload = SimpleUploadedFile("a.csv", CSV.encode(), content_type="text/csv")
        catalog_versions.add_version_from_upload(actor=owner, dataset=dataset, upload=upload)
    dataset_policies.set_dataset_policy(actor=owner, dataset=dataset, max_parity_difference=0.1)
    mv = ModelVersion.objects.filter(model__name="edit-bench").first() or registry.register_model_version(
        actor=owner,
        namespace="ml",
        name="edit-bench",
        version="1",
        trained_on=[dataset.urn],
        record_lineage=False,
    )
    return owner, steward, outsider, dataset, mv


def clients(user) -> tuple[Client, Client]:
    web = Client()
    web.force_login(user)
    token, _ = Token.objects.get_or_create(user=user)
    return web, Client(HTTP_AUTHORIZATION=f"Token {token.key}")


def timed_write(send, expected: int = 200) -> float:
    t = time.perf_counter()
    r = send()
    elapsed = time.perf_counter() - t
    assert r.status_code == expected, (r.status_code, r.content[:300])
    return elapsed


def alternating(values):
    state = {"i": 0}

    def next_value():
        state["i"] += 1
        return values[state["i"] % len(values)]

    return next_value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    owner, steward, outsider, dataset, mv = setup()
    s_web, s_api = clients(steward)
    o_web, o_api = clients(outsider)
    w_web, w_api = clients(owner)
    panel = f"/datasets/{dataset.pk}/access/"
    clearance = "/api/v1/clearance"
    asked = {"datasets": dataset.urn, "purpose": "training"}
    days = alternating(["30", "31"])
    text = alternating(["Rank applicants.", "Rank applicants for a human."])

    print(
        f"load average before measuring: {os.getloadavg()} on {os.cpu_count()} CPUs (shared with other work)"
    )
    print(f"{'case (ms)':<46} {'page p50':>8} {'page p95':>8} {'base p50':>9} {'base p95':>9} {'ratio95':>7}")
    rows = [
        ui.compare(
            "access panel, steward (policy + form)",
            lambda: ui.timed(s_web, panel, **HTMX),
            lambda: ui.timed(s_api, clearance, asked),
            args.repeat,
        ),
        ui.compare(
            "access panel, outsider (policy, no form)",
            lambda: ui.timed(o_web, panel, **HTMX),
            lambda: ui.timed(o_api, clearance, asked),
            args.repeat,
        ),
        ui.compare(
            "save policy (htmx POST, panel again)",
            lambda: timed_write(
                lambda: s_web.post(
                    f"/datasets/{dataset.pk}/policy/",
                    {"max_parity_difference": "0.1", "max_approval_days": days()},
                    **HTMX,
                )
            ),
            lambda: timed_write(
                lambda: s_api.put(
                    f"/api/v1/datasets/{dataset.pk}/policy/",
                    {"max_parity_difference": 0.1, "max_approval_days": int(days())},
                    content_type="application/json",
                )
            ),
            args.repeat,
        ),
        ui.compare(
            "model page, owner (card + form)",
            lambda: ui.timed(w_web, f"/models/{mv.pk}/"),
            lambda: ui.timed(w_api, f"/api/v1/models/{mv.pk}/card"),
            args.repeat,
        ),
        ui.compare(
            "save intended use (htmx POST, card again)",
            lambda: timed_write(
                lambda: w_web.post(f"/models/{mv.pk}/card/", {"intended_use": text(), "caveats": ""}, **HTMX)
            ),
            lambda: timed_write(
                lambda: w_api.patch(
                    f"/api/v1/models/{mv.pk}/", {"intended_use": text()}, content_type="application/json"
                )
            ),
            args.repeat,
        ),
    ]
    worst = max(rows, key=lambda r: r["p95"])
    print(
        f"\nslowest p95: {worst['label']} {worst['p95']:.1f} ms (median of medians {statistics.median(r['p50'] for r in rows):.1f} ms)"
    )


if __name__ == "__main__":
    main()
