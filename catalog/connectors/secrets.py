"""Reading a source's credentials at the moment they are needed, from where its ``secret`` points:
an environment variable, or a file under ``SOURCE_SECRETS_DIR``. They are never stored in the
database, answered by the API, logged or audited; ``redact`` takes them out of error messages."""

from __future__ import annotations

import os
import re
from pathlib import Path

from django.conf import settings

from catalog.connectors.base import SourceError

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,199}$")


def check_secret_name(name: str) -> str:
    """A secret's name as a source may hold it: an environment variable's or a file's name."""
    if not _NAME.match(name or ""):
        raise ValueError(
            "A secret is the name of an environment variable or of a file in the secrets folder "
            "(letters, digits, _ . -), not the credentials themselves."
        )
    return name


def read_secret(name: str) -> str:
    """The value behind ``name``: the environment variable first, then SOURCE_SECRETS_DIR/name."""
    if not name:
        return ""
    value = os.environ.get(name)
    if value is not None:
        return value.strip()
    folder = getattr(settings, "SOURCE_SECRETS_DIR", None)
    if folder:
        path = Path(folder) / name
        if path.is_file():
            return path.read_text(encoding="utf-8").strip()
    where = f" nor a file {name} in {folder}" if folder else ""
    raise SourceError(f"The secret '{name}' is not set: no environment variable {name}{where}.")


def redact(message: str, *secrets: str) -> str:
    """``message`` with every secret value (and the password of any URL in it) replaced by ***."""
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", message)
