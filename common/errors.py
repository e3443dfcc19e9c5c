"""The exceptions that mean "the user asked for something that cannot be done".

The command line prints them as one line (`streamgan CMD: error: ...`) and exits 2; anything
else is a bug and surfaces with its traceback. Each names the record, file or option at fault
and says what to do next.
"""
from __future__ import annotations


class UserError(ValueError):
    """Base of every one-line user error."""


class ConfigError(UserError):
    """An option, or a combination of options, that cannot work; the message says which."""


class CatalogError(UserError):
    """The catalogue (or an option about it) is unusable; the message names the record."""


class StoreError(UserError):
    """A store is missing, incomplete, corrupt or not what the caller needs."""


class RecordError(Exception):
    """One record that cannot be used (its bytes could not be fetched or decoded). Not fatal:
    it becomes one line of the store's errors.jsonl. `reason` is a short, stable code."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message
