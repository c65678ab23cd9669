"""PII detection on a sample of a column's values.

Each detector is a cheap vectorised shape filter (a regular expression run by pyarrow over the whole
sample) followed, for the kinds that have one, by a real validator on the candidates: phonenumbers
for phone numbers, python-stdnum for IBANs (mod-97) and national identifiers, the Luhn checksum for
card numbers, the ipaddress module for IP addresses. A column is flagged with a kind when the share
of its sampled non-null values that pass is at least the match threshold, so a stray value does not
flag a column.
"""

import ipaddress
import re
from collections.abc import Callable

import numpy as np
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from stdnum import iban, luhn
from stdnum.es import dni
from stdnum.fr import nir
from stdnum.it import codicefiscale
from stdnum.us import ssn

VALIDATE_AT_MOST = 1_000  # candidates validated per kind; the rate is extrapolated beyond that

EMAIL = r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}$"
PHONE = r"^\+?[0-9 ().\-]{7,22}$"
IBAN = r"^[A-Za-z]{2}[0-9]{2}[A-Za-z0-9 ]{11,40}$"
CARD = r"^[0-9](?:[ \-]?[0-9]){12,18}$"
IPV4 = r"^[0-9]{1,3}(\.[0-9]{1,3}){3}$"
IPV6 = r"^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$"
NATIONAL = {
    "us_ssn": (r"^[0-9]{3}-[0-9]{2}-[0-9]{4}$", ssn.is_valid),
    "fr_nir": (r"^[12][ 0-9]{14,20}$", nir.is_valid),
    "es_dni": (r"^[0-9]{8}-?[A-Za-z]$", dni.is_valid),
    "it_codice_fiscale": (
        r"^[A-Za-z]{6}[0-9LMNPQRSTUV]{2}[A-Za-z][0-9LMNPQRSTUV]{2}[A-Za-z][0-9LMNPQRSTUV]{3}[A-Za-z]$",
        codicefiscale.is_valid,
    ),
}


def _digits(s: str) -> str:
    return re.sub(r"\D", "", s)


def _is_card(s: str) -> bool:
    d = _digits(s)
    return 13 <= len(d) <= 19 and d[0] in "3456" and luhn.is_valid(d)


def _is_ip(s: str) -> bool:
    try:
        ipaddress.ip_address(s)
    except ValueError:
        return False
    return True


def _phone_validator(regions: tuple[str, ...]) -> Callable[[str], bool]:
    def is_phone(s: str) -> bool:
        digits = _digits(s)
        if not 7 <= len(digits) <= 15:
            return False
        for region in (None,) if s.startswith("+") else regions:
            try:
                number = phonenumbers.parse(s, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(number):
                return True
        return False

    return is_phone


def _rate(values: pa.Array, pattern: str, validate: Callable[[str], bool] | None, rng) -> float:
    """Share of ``values`` that match ``pattern`` and pass ``validate`` (estimated on at most
    VALIDATE_AT_MOST candidates)."""
    mask = pc.match_substring_regex(values, pattern).to_numpy(zero_copy_only=False)
    n_candidates = int(mask.sum())
    if n_candidates == 0:
        return 0.0
    if validate is None:
        return n_candidates / len(values)
    candidates = np.flatnonzero(mask)
    if n_candidates > VALIDATE_AT_MOST:
        candidates = rng.choice(candidates, VALIDATE_AT_MOST, replace=False)
    texts = values.take(pa.array(candidates)).to_pylist()
    passed = sum(1 for t in texts if validate(t))
    return (n_candidates / len(values)) * (passed / len(texts))


def detect(
    values: pa.Array, *, threshold: float, regions: tuple[str, ...], seed: int = 0
) -> tuple[list[str], dict]:
    """PII kinds found in the non-null sample ``values`` (strings) and the match rate of each kind tried.

    Returns (kinds at or over the threshold, {kind: rate} for every kind with any match).
    """
    values = pc.utf8_trim_whitespace(values.drop_null())
    if len(values) == 0:
        return [], {}
    rng = np.random.default_rng(seed)
    rates: dict[str, float] = {}
    rates["email"] = _rate(values, EMAIL, None, rng)
    rates["phone"] = _rate(values, PHONE, _phone_validator(regions), rng)
    rates["iban"] = _rate(values, IBAN, iban.is_valid, rng)
    rates["credit_card"] = _rate(values, CARD, _is_card, rng)
    ip4 = _rate(values, IPV4, _is_ip, rng)
    ip6 = _rate(values, IPV6, _is_ip, rng)
    rates["ip_address"] = ip4 + ip6
    national = 0.0
    for pattern, validator in NATIONAL.values():
        national = max(national, _rate(values, pattern, validator, rng))
    rates["national_id"] = national
    # Card numbers and national ids are also runs of digits that can parse as a phone number
    # somewhere: the more specific check (a checksum, a fixed layout) wins.
    if max(rates["credit_card"], rates["national_id"], rates["iban"]) >= threshold:
        rates["phone"] = 0.0
    found = [k for k, r in rates.items() if r >= threshold]
    return found, {k: round(r, 4) for k, r in rates.items() if r > 0}
