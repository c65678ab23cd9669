"""Domain errors raised by services of every app; the API layer maps them to 4xx answers.

Services also raise django.core.exceptions.ValidationError for bad input (→ 400).
"""


class NotAllowed(Exception):
    """The actor may not make this change (→ 403)."""


class Conflict(Exception):
    """The change collides with existing state, e.g. a duplicate namespace + name (→ 409)."""

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or {}
