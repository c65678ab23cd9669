"""The demo datasets of the catalog and their versions, written through catalog's services.

Profiling starts by itself on each upload (on commit), as it does for a user's upload.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.files.base import ContentFile

from catalog import selectors as catalog_selectors
from catalog import services as catalog_services
from catalog import versions as catalog_versions
from config.demo.files import breast_cancer, credit_applications, diabetes, penguins, wine

LAKE = "s3://demo-lake"
WAREHOUSE = "postgres://warehouse.internal:5432"


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


def load_dataset(spec: DemoDataset, users: dict, say: Callable[[str], Any]):
    """The dataset of ``spec`` (created by its owner when missing) with every version it lacks."""
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
        say(f"  dataset {dataset.urn}")
    # Versions by position: the n-th file is version n, so a rerun adds only what is missing.
    have = dataset.versions.count()
    for filename, make in spec.versions[have:]:
        upload = ContentFile(make(), name=filename)
        version, _ = catalog_versions.add_version_from_upload(
            actor=users[spec.owner], dataset=dataset, upload=upload, via="system"
        )
        say(f"    version {version.number} ({filename}, {version.size_bytes} bytes)")
    return dataset
