"""``manage.py load_demo``: a catalog that is not empty on the first screen (idempotent).

Real datasets that PyPI packages ship (palmerpenguins; scikit-learn's bundled breast cancer,
wine and diabetes sets: files inside the package, nothing downloaded) plus a synthetic but
realistic credit-applications table (fixed seed) with an e-mail column, a sensitive attribute and a
label, to show PII detection and bias. Everything is written through the apps' services, as a user
would through the API: profiling starts by itself when a worker runs.

Demo users share one password and are refused outside DEBUG (``--force`` to override), so that
the command cannot plant known logins in production.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token

from catalog import selectors as catalog_selectors
from catalog import services as catalog_services

DEMO_PASSWORD = "gouvernail-demo"  # noqa: S105 - published on purpose; refused outside DEBUG
LAKE = "s3://demo-lake"
WAREHOUSE = "postgres://warehouse.internal:5432"
MODELS = "mlflow://demo"


@dataclass(frozen=True)
class DemoUser:
    username: str
    first_name: str
    role: str
    is_staff: bool = False


USERS = [
    DemoUser("admin", "Ada", "staff admin (Django admin, every dataset)", is_staff=True),
    DemoUser("olivia_owner", "Olivia", "data owner of most datasets"),
    DemoUser("sam_steward", "Sam", "data steward (documents, approves access)"),
    DemoUser("dan_scientist", "Dan", "data scientist (requests access, trains models)"),
]


# ---------------------------------------------------------------------------------------------
# The data


def _csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode()


def penguins(years: tuple[int, ...]) -> bytes:
    from palmerpenguins import load_penguins

    df = load_penguins()
    return _csv(df[df["year"].isin(years)])


def breast_cancer() -> bytes:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    df = bunch.frame.drop(columns=["target"])
    df.columns = [c.replace(" ", "_") for c in df.columns]
    df["diagnosis"] = bunch.target.map(dict(enumerate(bunch.target_names)))
    return _csv(df)


def wine() -> bytes:
    from sklearn.datasets import load_wine

    bunch = load_wine(as_frame=True)
    df = bunch.frame.drop(columns=["target"])
    df["cultivar"] = bunch.target.map(lambda t: f"cultivar_{t + 1}")
    return _csv(df)


def diabetes() -> bytes:
    from sklearn.datasets import load_diabetes

    # Unscaled: real ages and sex coded 1/2 as the study recorded them.
    bunch = load_diabetes(as_frame=True, scaled=False)
    df = bunch.frame.rename(
        columns={
            "bmi": "bmi",
            "bp": "mean_blood_pressure",
            "s1": "total_cholesterol",
            "s2": "ldl",
            "s3": "hdl",
            "s4": "cholesterol_hdl_ratio",
            "s5": "log_triglycerides",
            "s6": "blood_sugar",
            "target": "progression_one_year",
        }
    )
    df["sex"] = df["sex"].map({1.0: "F", 2.0: "M"}).fillna(df["sex"].astype(str))
    df.insert(0, "patient_id", [f"P{i:04d}" for i in range(len(df))])
    return _csv(df)


def credit_applications(rows: int = 2000, seed: int = 20240611) -> bytes:
    """Loan applications with a built-in disparity: approval depends on income and credit score,
    and (wrongly) a little on gender, so the bias panel has something to show."""
    rng = np.random.default_rng(seed)
    gender = rng.choice(["female", "male", "non-binary"], size=rows, p=[0.47, 0.49, 0.04])
    age = rng.integers(19, 76, size=rows)
    income = np.round(rng.lognormal(mean=10.6, sigma=0.45, size=rows), -2)
    employment_years = np.clip(np.round(rng.gamma(2.0, 3.0, size=rows)), 0, age - 18)
    credit_score = np.clip(rng.normal(680, 70, size=rows).round(), 300, 850).astype(int)
    loan_amount = np.round(income * rng.uniform(0.1, 0.9, size=rows), -2)
    first = rng.choice(["alex", "maria", "li", "sam", "noor", "jan", "fatima", "tom", "aiko", "lucas"], rows)
    last = rng.choice(["martin", "garcia", "chen", "smith", "haddad", "nowak", "okafor", "rossi"], rows)
    domain = rng.choice(["example.org", "mail.example.com", "example.net"], rows)
    email = [f"{f}.{la}{i}@{d}" for i, (f, la, d) in enumerate(zip(first, last, domain, strict=True))]
    score = (
        0.9 * (credit_score - 680) / 70
        + 0.8 * (np.log(income) - 10.6) / 0.45
        - 1.1 * (loan_amount / income - 0.5)
        - 0.45 * (gender == "female")
        + rng.normal(0, 0.6, rows)
    )
    approved = np.where(score > 0, "yes", "no")
    # A few gaps, as real forms have.
    employment = employment_years.astype(float)
    employment[rng.random(rows) < 0.03] = np.nan
    df = pd.DataFrame(
        {
            "application_id": [
                str(uuid.UUID(int=int(rng.integers(0, 2**63)) << 64 | i)) for i in range(rows)
            ],
            "applicant_email": email,
            "age": age,
            "gender": gender,
            "annual_income_eur": income,
            "employment_years": employment,
            "credit_score": credit_score,
            "loan_amount_eur": loan_amount,
            "approved": approved,
        }
    )
    return _csv(df)


@dataclass
class DemoDataset:
    namespace: str
    name: str
    title: str
    description: str
    owner: str
    stewards: list[str]
    domain: str
    tags: list[str]
    sensitivity: str
    versions: list[tuple[str, Any]]  # (file name, () -> bytes), oldest first
    sensitive_columns: list[str] = field(default_factory=list)
    label_column: str = ""
    positive_label: Any = None


DATASETS = [
    DemoDataset(
        namespace=LAKE,
        name="ecology/palmer_penguins",
        title="Palmer Archipelago penguins",
        description=(
            "Size measurements of adult foraging **Adélie, Chinstrap and Gentoo** penguins near Palmer "
            "Station, Antarctica (Gorman, Williams & Fraser, 2014), as shipped by the "
            "[palmerpenguins](https://pypi.org/project/palmerpenguins/) package.\n\n"
            "Version 1 holds the 2007–2008 field seasons; version 2 adds 2009, so the drift panel "
            "compares them."
        ),
        owner="olivia_owner",
        stewards=["sam_steward"],
        domain="ecology",
        tags=["ecology", "open-data", "tabular"],
        sensitivity="public",
        versions=[
            ("penguins_2007_2008.csv", lambda: penguins((2007, 2008))),
            ("penguins.csv", lambda: penguins((2007, 2008, 2009))),
        ],
        sensitive_columns=["sex"],
        label_column="species",
        positive_label="Adelie",
    ),
    DemoDataset(
        namespace=LAKE,
        name="clinical/breast_cancer_wisconsin",
        title="Breast cancer Wisconsin (diagnostic)",
        description=(
            "Features computed from digitised images of fine needle aspirates of breast masses "
            "(scikit-learn's bundled copy of the UCI set). `diagnosis` is the label."
        ),
        owner="olivia_owner",
        stewards=["sam_steward"],
        domain="clinical",
        tags=["clinical", "imaging-features"],
        sensitivity="internal",
        versions=[("breast_cancer.csv", breast_cancer)],
        label_column="diagnosis",
        positive_label="malignant",
    ),
    DemoDataset(
        namespace=LAKE,
        name="food/wine_recognition",
        title="Wine recognition",
        description="Chemical analysis of wines grown in one region of Italy from three cultivars.",
        owner="sam_steward",
        stewards=[],
        domain="food",
        tags=["open-data", "tabular"],
        sensitivity="public",
        versions=[("wine.csv", wine)],
    ),
    DemoDataset(
        namespace=WAREHOUSE,
        name="clinical.diabetes_progression",
        title="Diabetes disease progression",
        description=(
            "Ten baseline variables (age, sex, BMI, blood pressure, six blood serum measurements) of "
            "442 diabetes patients and a measure of disease progression one year later. **Health "
            "data: restricted**, use needs the owner's and a steward's approval."
        ),
        owner="olivia_owner",
        stewards=["sam_steward"],
        domain="clinical",
        tags=["clinical", "health-data"],
        sensitivity="restricted",
        versions=[("diabetes.csv", diabetes)],
        sensitive_columns=["sex"],
    ),
    DemoDataset(
        namespace=WAREHOUSE,
        name="risk.credit_applications",
        title="Consumer credit applications",
        description=(
            "Loan applications and their decisions (synthetic, generated with a fixed seed). Holds "
            "applicants' e-mail addresses: **confidential**. The approval rate differs by gender, "
            "which the bias panel shows."
        ),
        owner="olivia_owner",
        stewards=["sam_steward"],
        domain="risk",
        tags=["finance", "pii"],
        sensitivity="confidential",
        versions=[("credit_applications.csv", credit_applications)],
        sensitive_columns=["gender"],
        label_column="approved",
        positive_label="yes",
    ),
]


# ---------------------------------------------------------------------------------------------
# The command


class Command(BaseCommand):
    help = "Load demo users, datasets (with versions), lineage, a model and access requests. Idempotent."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--force", action="store_true", help="load even with DEBUG off (demo logins share a password)"
        )
        parser.add_argument("--quiet-logins", action="store_true", help="do not print logins and tokens")

    def handle(self, *args, force: bool = False, quiet_logins: bool = False, **options) -> None:
        if not settings.DEBUG and not force:
            raise CommandError(
                "DEBUG is off: the demo users have a published password. Use --force if you mean it."
            )
        users = self.load_users()
        admin = users["admin"]
        datasets = {}
        for spec in DATASETS:
            datasets[spec.name] = self.load_dataset(spec, users, admin)
        self.load_lineage(admin)
        self.load_governance(users, datasets)
        self.stdout.write(self.style.SUCCESS(f"Demo data loaded: {len(datasets)} datasets."))
        if not quiet_logins:
            self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
            for u in USERS:
                token = Token.objects.get(user=users[u.username]).key
                self.stdout.write(f"  {u.username:<14} API token {token}   {u.role}")

    # Users ---------------------------------------------------------------------------------

    def load_users(self) -> dict:
        User = get_user_model()
        out = {}
        for u in USERS:
            user, created = User.objects.get_or_create(
                username=u.username,
                defaults={
                    "first_name": u.first_name,
                    "email": f"{u.username}@example.org",
                    "is_staff": u.is_staff,
                    "is_superuser": u.is_staff,
                },
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
            Token.objects.get_or_create(user=user)
            out[u.username] = user
        return out

    # Datasets ------------------------------------------------------------------------------

    def load_dataset(self, spec: DemoDataset, users: dict, admin):
        dataset = catalog_selectors.dataset_by_urn(f"dataset:{spec.namespace}:{spec.name}")
        if dataset is None:
            fields: dict[str, Any] = {
                "title": spec.title,
                "description": spec.description,
                "owner": spec.owner,
                "stewards": spec.stewards,
                "domain": spec.domain,
                "tags": spec.tags,
                "sensitivity": spec.sensitivity,
            }
            if spec.sensitive_columns:
                fields["sensitive_columns"] = spec.sensitive_columns
            if spec.label_column:
                fields.update(label_column=spec.label_column, positive_label=spec.positive_label)
            dataset = catalog_services.create_dataset(
                actor=users[spec.owner], namespace=spec.namespace, name=spec.name, via="system", **fields
            )
            self.stdout.write(f"  dataset {dataset.urn}")
        # Versions by position: the n-th file is version n, so a rerun adds only what is missing.
        have = dataset.versions.count()
        for filename, make in spec.versions[have:]:
            upload = ContentFile(make(), name=filename)
            version, _ = catalog_services.add_version_from_upload(
                actor=users[spec.owner], dataset=dataset, upload=upload, via="system"
            )
            self.stdout.write(f"    version {version.number} ({filename}, {version.size_bytes} bytes)")
        return dataset

    # Lineage -------------------------------------------------------------------------------

    def load_lineage(self, admin) -> None:
        """Two feature jobs, one reading restricted health data, as OpenLineage events."""
        try:
            from lineage.services import ingest_event
        except ImportError:  # the lineage app is not there yet: the demo is the catalog alone
            return
        jobs = [
            (
                "build_credit_features",
                [(WAREHOUSE, "risk.credit_applications")],
                [(WAREHOUSE, "risk.credit_features")],
            ),
            (
                "build_patient_features",
                [(WAREHOUSE, "clinical.diabetes_progression")],
                [(LAKE, "features/patient_risk_features")],
            ),
        ]
        for job, inputs, outputs in jobs:
            run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"gouvernail-demo:{job}"))
            body = {
                "eventType": "COMPLETE",
                "eventTime": "2026-01-15T09:30:00+00:00",
                "producer": "https://github.com/gouvernail/gouvernail/demo",
                "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
                "run": {"runId": run_id},
                "job": {"namespace": "airflow://demo", "name": f"features.{job}"},
                "inputs": [{"namespace": ns, "name": n} for ns, n in inputs],
                "outputs": [{"namespace": ns, "name": n} for ns, n in outputs],
            }
            ingest_event(body=body, actor=admin)

    # Governance ----------------------------------------------------------------------------

    def load_governance(self, users: dict, datasets: dict) -> None:
        """Dan's access requests (one approved, one waiting for the owner) and a registered model."""
        try:
            from governance import services as gov
            from governance.models import AccessRequest, RegisteredModel
        except ImportError:
            return
        dan, sam = users["dan_scientist"], users["sam_steward"]
        credit = datasets["risk.credit_applications"].urn
        diabetes_urn = datasets["clinical.diabetes_progression"].urn
        if not AccessRequest.objects.filter(requester=dan).exists():
            approved = gov.create_access_request(
                actor=dan,
                datasets=[credit],
                purpose="training",
                model_name="credit-risk",
                justification="Train the **credit-risk** scorecard v1; e-mails are dropped before training.",
                via="system",
            )
            gov.approve_access_request(
                actor=sam, request=approved, comment="Approved for v1; e-mail column excluded.", via="system"
            )
            gov.create_access_request(
                actor=dan,
                datasets=[diabetes_urn],
                purpose="training",
                model_name="readmission-risk",
                justification="Prototype a readmission-risk model on the diabetes cohort.",
                via="system",
            )
        if not RegisteredModel.objects.filter(namespace=MODELS, name="credit-risk").exists():
            try:
                gov.register_model_version(
                    actor=dan,
                    namespace=MODELS,
                    name="credit-risk",
                    version="1",
                    trained_on=[f"{credit}@1"],
                    run_id="demo-credit-risk-1",
                    via="system",
                )
            except ValidationError as exc:  # keep the rest of the demo when the card cannot be made
                self.stderr.write(f"  model not registered: {exc}")
