"""PII detectors: checksums decide, and a stray value below the match threshold flags nothing."""

import json

import numpy as np
import pandas as pd
import phonenumbers
import pyarrow as pa
import pytest
from stdnum import iban, luhn

from profiling.engine import ProfileOptions, compute_drift, profile_file
from profiling.engine.pii import detect
from profiling.tests.engine.conftest import column

REGIONS = ("US", "GB", "FR", "DE")
rng = np.random.default_rng(5)


def cards(n: int, valid: bool = True) -> list[str]:
    out = []
    for _ in range(n):
        body = "4" + "".join(str(d) for d in rng.integers(0, 10, 14))
        check = luhn.calc_check_digit(body)
        if not valid:
            check = str((int(check) + 1) % 10)
        out.append(body + check)
    return out


def ibans(n: int, valid: bool = True) -> list[str]:
    out = []
    for _ in range(n):
        bban = "".join(str(d) for d in rng.integers(0, 10, 18))
        digits = iban.calc_check_digits("DE00" + bban)
        if not valid:
            digits = f"{(int(digits) + 1) % 97 + 2:02d}"
        out.append(f"DE{digits}{bban}")
    return out


def phones(n: int) -> list[str]:
    base = phonenumbers.example_number("FR")
    return [
        phonenumbers.format_number(
            phonenumbers.PhoneNumber(country_code=33, national_number=base.national_number + int(i)),
            phonenumbers.PhoneNumberFormat.INTERNATIONAL,
        )
        for i in range(n)
    ]


def kinds(values: list[str]) -> list[str]:
    found, _ = detect(pa.array(values), threshold=0.5, regions=REGIONS)
    return found


def test_each_kind_is_found():
    assert kinds([f"user{i}@example.org" for i in range(50)]) == ["email"]
    assert kinds(phones(50)) == ["phone"]
    assert kinds(ibans(50)) == ["iban"]
    assert kinds(cards(50)) == ["credit_card"]
    assert kinds([f"10.0.{i}.{i + 1}" for i in range(50)] + ["2001:db8::1"] * 10) == ["ip_address"]
    assert kinds(["536-90-4399", "078-05-1120", "123-45-6789"] * 10) == ["national_id"]


def test_invalid_checksums_are_not_found():
    assert kinds(ibans(50, valid=False)) == []
    assert "credit_card" not in kinds(cards(50, valid=False))
    assert kinds(["999.1.1.1"] * 20) == []  # IP shape, not an address
    assert kinds(["000-12-3456"] * 20) == []  # SSN area 000 does not exist


def test_a_stray_value_does_not_flag_a_column():
    values = [f"note {i}" for i in range(99)] + ["someone@example.org"]
    found, rates = detect(pa.array(values), threshold=0.5, regions=REGIONS)
    assert found == [] and rates["email"] == pytest.approx(0.01)


def test_the_threshold_is_the_share_of_non_null_sampled_values():
    values = [f"u{i}@example.org" for i in range(6)] + ["x"] * 4 + [None] * 50
    assert kinds(values) == ["email"]
    found, _ = detect(pa.array(values), threshold=0.7, regions=REGIONS)
    assert found == []


def test_profile_reports_pii_per_column_and_in_the_summary(write):
    n = 400
    frame = pd.DataFrame(
        {
            "mail": [f"person{i}@example.com" for i in range(n)],
            "card": cards(n),
            "free": [f"hello {i}" for i in range(n)],
            "num_card": [int(c) for c in cards(n)],
        }
    )
    r = profile_file(write("pii.csv", frame.to_csv(index=False)), format="csv")
    assert r.pii == {"mail": ["email"], "card": ["credit_card"], "num_card": ["credit_card"]}
    assert column(r, "mail")["pii"] == ["email"] and column(r, "free")["pii"] == []
    assert any("Personal data" in w for w in r.warnings)


def test_pii_threshold_option(write):
    frame = pd.DataFrame({"mixed": [f"p{i}@example.com" if i % 3 == 0 else f"text {i}" for i in range(300)]})
    path = write("t.csv", frame.to_csv(index=False))
    assert profile_file(path, format="csv").pii == {}
    assert profile_file(path, format="csv", options=ProfileOptions(pii_match_threshold=0.3)).pii == {
        "mixed": ["email"]
    }


def test_columns_with_personal_data_show_no_values(write):
    frame = pd.DataFrame({"mail": [f"p{i % 50}@example.com" for i in range(500)], "n": range(500)})
    path = write("r.csv", frame.to_csv(index=False))
    r = profile_file(path, format="csv")
    mail = column(r, "mail")
    assert mail["pii"] == ["email"] and mail["top_values"] == [] and mail["min"] is None
    assert mail["distinct_count"] == 50
    assert "@" not in json.dumps(r.drift_state) and "@" not in json.dumps(r.columns)
    assert r.method["columns"]["mail"]["redacted"]
    # Drift still works on the digests, also against a version where nothing was redacted.
    plain = profile_file(path, format="csv", options=ProfileOptions(redact_pii=False))
    assert column(plain, "mail")["top_values"]
    assert (
        compute_drift(plain.drift_state, r.drift_state, previous_version=1)["columns"]["mail"]["psi"] == 0.0
    )


def faker_values(locale: str, method: str, n: int, seed: int = 1234) -> list[str]:
    from faker import Faker

    fake = Faker(locale)
    fake.seed_instance(seed)
    return [str(getattr(fake, method)()) for _ in range(n)]


def test_us_phone_numbers_as_faker_writes_them_are_phones():
    # QA F3: 001- prefix, (area)exchange-line, dotted 3.3.4, and x-extensions were all missed.
    for value in (
        "001-944-693-9092x6685",
        "(242)222-8069x032",
        "957.675.9877x35294",
        "+1-202-555-0143 ext. 12",
    ):
        assert kinds([value] * 10) == ["phone"], value
    assert kinds(faker_values("en_US", "phone_number", 500)) == ["phone"]
    _, rates = detect(pa.array(faker_values("en_US", "phone_number", 500)), threshold=0.5, regions=REGIONS)
    assert rates["phone"] >= 0.95
    for locale in ("en_GB", "fr_FR", "de_DE"):
        assert kinds(faker_values(locale, "phone_number", 300)) == ["phone"], locale


def test_us_phones_with_the_00_prefix_need_no_european_region():
    found, _ = detect(pa.array(["001-202-555-0143x12"] * 10), threshold=0.5, regions=("US",))
    assert found == ["phone"]


def test_ip_addresses_and_version_strings_are_not_phones():
    ips = faker_values("en_US", "ipv4", 500)
    found, rates = detect(pa.array(ips), threshold=0.5, regions=REGIONS)
    assert found == ["ip_address"] and "phone" not in rates
    assert kinds(["192.46.67.189", "152.206.148.59", "10.20.30.40"] * 10) == ["ip_address"]
    versions = [f"{a}.{b}.{c}.{d}" for a, b, c, d in rng.integers(0, 1000, (500, 4))]
    versions += ["4.10.87.937", "1.2.3", "2024.01.15", "3.11.4"]
    found, rates = detect(pa.array(versions), threshold=0.5, regions=REGIONS)
    assert found == [] and "phone" not in rates
    # A French number written in dotted pairs is still a phone.
    assert kinds(["01.45.67.89.10", "06.12.34.56.78"] * 10) == ["phone"]


def test_a_faker_table_flags_each_column_with_its_own_kind(write):
    n = 300
    frame = pd.DataFrame(
        {
            "phone": faker_values("en_US", "phone_number", n),
            "ip": faker_values("en_US", "ipv4", n),
            "email": faker_values("en_US", "email", n),
        }
    )
    r = profile_file(write("faker.csv", frame.to_csv(index=False)), format="csv")
    assert r.pii == {"phone": ["phone"], "ip": ["ip_address"], "email": ["email"]}


def test_phone_numbers_read_as_numbers_are_found_in_a_column_named_like_a_phone(write):
    """CSV readers make numbers of phones: ``4155552671`` an integer, E.164's ``+14155552671`` a
    float. Ten-digit identifiers validate as phones too, so only a column named like one is checked."""
    us = [f"{area}555{i:04d}" for i, area in zip(range(300), [415, 212, 617, 303, 206] * 60, strict=True)]
    frame = pd.DataFrame(
        {
            "customer_phone": [int(v) for v in us],
            "mobileE164": [f"+1{v}" for v in us],
            "order_id": [int(v) for v in us],  # the same digits, named as what they are here
            "amount": [float(i) + 0.5 for i in range(300)],
        }
    )
    r = profile_file(write("phones.csv", frame.to_csv(index=False)), format="csv")
    assert column(r, "mobileE164")["type"] in ("float", "integer")  # read as numbers
    assert r.pii == {"customer_phone": ["phone"], "mobileE164": ["phone"]}
    assert column(r, "customer_phone")["top_values"] == []  # redacted like any PII column


def test_whole_number_floats_only(write):
    frame = pd.DataFrame({"phone": [4155550100.25 + i for i in range(200)]})
    assert profile_file(write("f.csv", frame.to_csv(index=False)), format="csv").pii == {}


def test_french_mobiles_that_lost_their_leading_zero_are_found(write):
    """QA G23: 0612345678 read as the integer 612345678 (nine digits)."""
    frame = pd.DataFrame({"mobile": [f"06{i:08d}" for i in range(12345678, 12345978)]})
    r = profile_file(write("fr.csv", frame.to_csv(index=False)), format="csv")
    assert column(r, "mobile")["type"] == "integer" and r.pii == {"mobile": ["phone"]}
