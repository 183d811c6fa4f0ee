"""The error types cinefuse raises: each says what was wrong, where, and what to do."""

from __future__ import annotations

from encoders.errors import CinefuseError, ModelNotAvailable, SettingsError

__all__ = ["CatalogError", "CinefuseError", "FetchError", "InputError", "ModelNotAvailable", "SettingsError",
           "StoreError", "TitleNotFound"]


class CatalogError(CinefuseError):
    """A source file is missing, malformed or cannot be joined.

    Example:
        >>> raise CatalogError("ratings.csv line 3, field 'rating': 'x' is not a number")
        Traceback (most recent call last):
        ...
        index.errors.CatalogError: ratings.csv line 3, field 'rating': 'x' is not a number
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line
        self.field = field


class InputError(CinefuseError, ValueError):
    """An argument given to the Python API or the command line cannot be used (a rating of 6, ``k=0``...).

    Example:
        >>> isinstance(InputError("k must be at least 1, got 0"), ValueError)
        True
    """


class StoreError(CinefuseError):
    """The vector store cannot be opened, is locked, or holds vectors from other models."""


class FetchError(CinefuseError):
    """A download failed or its checksum did not match."""


class TitleNotFound(CinefuseError):
    """A title matched no movie, or matched several; `candidates` lists the closest."""

    def __init__(self, message: str, candidates: list[str] | None = None) -> None:
        super().__init__(message)
        self.candidates = candidates or []
