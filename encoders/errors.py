"""The errors every layer shares: the base of every error cinefuse raises, and the two the encoders raise.

They live in the lowest layer so that ``encoders`` needs nothing above it; ``index.errors`` re-exports them beside
the errors of ingestion, storage and input.
"""

from __future__ import annotations


class CinefuseError(Exception):
    """Base of every error cinefuse raises on purpose."""


class SettingsError(CinefuseError, ValueError):
    """A setting (TOML file, CINEFUSE_* variable or flag) has a value that cannot be used.

    Example:
        >>> isinstance(SettingsError("device 'tpu' is unknown"), ValueError)
        True
    """


class ModelNotAvailable(CinefuseError):
    """A model's weights cannot be found locally nor downloaded."""
