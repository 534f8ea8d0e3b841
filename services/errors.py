"""Domain errors: raised by services, turned into a Chinese reply by the handlers."""

from __future__ import annotations

from services.texts import t


class DomainError(Exception):
    """Base: `key` names the text in the catalogue, `params` fill it."""

    key = "internal_error"

    def __init__(self, **params: object) -> None:
        self.params = params
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return t(self.key, **self.params)


class NotFound(DomainError):
    key = "err_not_found"


class NotAllowed(DomainError):
    key = "err_not_allowed"


class Conflict(DomainError):
    key = "err_conflict"


class IllegalTransition(DomainError):
    key = "err_illegal_transition"


class InvalidInput(DomainError):
    def __init__(self, key: str, **params: object) -> None:
        self.key = key
        super().__init__(**params)
