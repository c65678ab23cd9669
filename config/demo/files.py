"""The demo's data files, as CSV bytes.

Real datasets that PyPI packages ship (palmerpenguins; scikit-learn's bundled breast cancer, wine
and diabetes sets: files inside the package, nothing downloaded) plus a synthetic but realistic
credit-applications table (fixed seed) with an e-mail column, a sensitive attribute and a label, to
show PII detection and bias.
"""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd


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
