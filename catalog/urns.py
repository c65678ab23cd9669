"""Dataset URNs: ``dataset:<namespace>:<name>``.

Namespaces are often URIs with a scheme and a port (``postgres://db.internal:5432``) and names may
hold ``:`` too, so a URN cannot be split on a fixed colon. Lookups try every split against the
database; a URN for a dataset nobody registered yet is split by OpenLineage's naming conventions.
"""

import re

from django.core.exceptions import ValidationError
from django.db.models import Q

PREFIX = "dataset:"
# scheme://authority[:port] -- the authority may not hold '/' or ':' apart from the port.
_URI_NAMESPACE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*://[^/:]*(?::\d+)?):(.+)$", re.S)
_VERSION_SUFFIX = re.compile(r"^(.*)@(\d+)$", re.S)


def dataset_urn(namespace: str, name: str) -> str:
    return f"{PREFIX}{namespace}:{name}"


def _body(urn: str) -> str:
    if not isinstance(urn, str) or not urn.startswith(PREFIX) or ":" not in urn[len(PREFIX) :]:
        raise ValidationError(f"'{urn}' is not a dataset URN; expected dataset:<namespace>:<name>.")
    return urn[len(PREFIX) :]


def candidate_splits(urn: str) -> list[tuple[str, str]]:
    """Every (namespace, name) the URN could mean, the conventional reading first."""
    body = _body(urn)
    splits = [(body[:i], body[i + 1 :]) for i, ch in enumerate(body) if ch == ":"]
    splits = [(ns, name) for ns, name in splits if ns and name]
    if not splits:
        raise ValidationError(f"'{urn}' is not a dataset URN; expected dataset:<namespace>:<name>.")
    preferred = split_new_urn(urn)
    return [preferred] + [s for s in splits if s != preferred]


def split_new_urn(urn: str) -> tuple[str, str]:
    """The conventional (namespace, name) of a URN: a URI namespace keeps its port."""
    body = _body(urn)
    m = _URI_NAMESPACE.match(body)
    if m:
        return m.group(1), m.group(2)
    ns, _, name = body.partition(":")
    if not ns or not name:
        raise ValidationError(f"'{urn}' is not a dataset URN; expected dataset:<namespace>:<name>.")
    return ns, name


def dataset_lookup_q(urn: str) -> Q:
    q = Q(pk__in=[])
    for ns, name in candidate_splits(urn):
        q |= Q(namespace=ns, name=name)
    return q


def split_version(ref: str) -> tuple[str, int | None]:
    """``dataset:ns:name@3`` → (``dataset:ns:name``, 3); without a suffix the version is None."""
    m = _VERSION_SUFFIX.match(ref)
    if m:
        return m.group(1), int(m.group(2))
    return ref, None
