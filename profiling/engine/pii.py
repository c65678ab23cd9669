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
from typing import Any

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
# Digits with the usual separators, then an optional extension ("x123", "ext. 12", "#12").
PHONE = r"^\+?[0-9 ().\-]{7,22}(\s*([xX]|[eE][xX][tT]\.?|[eE]xtension|#)\s*[0-9]{1,6})?$"
EXTENSION = re.compile(r"\s*(?:x|ext\.?|extension|#)\s*[0-9]{1,6}$", re.IGNORECASE)
# Only digits and dots: IPv4 addresses, version strings, dotted numbers. Of those only two phone
# layouts are let through to phonenumbers: North American 3.3.4 and pairs (French 01.23.45.67.89).
DOTTED_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)+")
DOTTED_PHONE = re.compile(r"[0-9]{3}\.[0-9]{3}\.[0-9]{4}|0[0-9](?:\.[0-9]{2}){4}")
# A North American number in one of its written layouts (separators between the groups, area
# code and exchange starting 2-9): a phone even when its area code is not assigned (yet), as in
# test data and fictional 555 numbers, which phonenumbers' strict validity check refuses.
NANP = re.compile(
    r"(?:\+1|001|1)?[ .\-]?(?:\([2-9][0-9]{2}\)\s?|[2-9][0-9]{2}[ .\-])[2-9][0-9]{2}[ .\-][0-9]{4}"
)
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
        core = EXTENSION.sub("", s)  # phonenumbers reads the extension; the checks below must not
        if DOTTED_NUMBER.fullmatch(core) and not DOTTED_PHONE.fullmatch(core):
            return False  # an IPv4 address or a version string parses as a number somewhere
        digits = _digits(core)
        if not 7 <= len(digits) <= 15:
            return False
        if core.startswith("00"):
            # "00" is the international prefix almost everywhere but in North America (011):
            # 001-944-693-9092 is +1 944 693 9092 whatever regions are tried.
            s, core = "+" + s[2:].lstrip(" -."), "+" + core[2:].lstrip(" -.")
        for region in (None,) if core.startswith("+") else regions:
            try:
                number = phonenumbers.parse(s, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(number):
                return True
        return NANP.fullmatch(core) is not None

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
    # Card numbers, national ids and IP addresses are also runs of digits that can parse as a
    # phone number somewhere: the more specific check (a checksum, a fixed layout) wins.
    if max(rates["credit_card"], rates["national_id"], rates["iban"], rates["ip_address"]) >= threshold:
        rates["phone"] = 0.0
    found = [k for k, r in rates.items() if r >= threshold]
    return found, {k: round(r, 4) for k, r in rates.items() if r > 0}


# Words of a column name that say it holds phone numbers ("phone", "customer_mobile", "msisdn", "telNo").
_PHONE_WORDS = {"phone", "tel", "telephone", "mobile", "msisdn", "cell", "cellphone", "fax"}
_NAME_WORDS = re.compile(r"[^A-Za-z]+|(?<=[a-z])(?=[A-Z])")


def _named_like_a_phone(name: str) -> bool:
    words = {w.lower() for w in _NAME_WORDS.split(name) if w}
    return bool(words & _PHONE_WORDS) or any("phone" in w for w in words)


def numbers_worth_a_check(
    values: pa.Array, *, name: str, family: str, low: Any, high: Any
) -> pa.Array | None:
    """A numeric column's sample as digit strings when its numbers may be personal data, else None.

    Card numbers (13-19 digits) are long enough to check whatever the column's name: the Luhn checksum
    keeps the false positives out. Phone numbers are read as numbers from CSV too (``4155552671``, a
    French ``0612345678`` as ``612345678``;
    E.164's ``+14155552671`` becomes a float), but any 10-digit identifier validates as a phone number
    in some region, so those are checked only in a column named like one. Floats count only when every
    sampled value is a whole number.
    """
    if family not in ("integer", "float") or high is None:
        return None
    biggest = max(abs(float(high)), abs(float(low)) if low is not None else 0.0)
    if not (biggest >= 1e12 and family == "integer") and not (biggest >= 1e8 and _named_like_a_phone(name)):
        return None
    if pa.types.is_floating(values.type):
        finite = pc.drop_null(values)
        if len(finite) == 0 or not pc.all(pc.equal(pc.floor(finite), finite)).as_py():
            return None
        values = finite.cast(pa.int64())
    return values.cast(pa.string())
