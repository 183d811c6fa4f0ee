"""Settings are data: one dataclass, filled from defaults, an optional TOML file, then CINEFUSE_* env vars,
then explicit overrides (CLI flags)."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from index.errors import CinefuseError

DEFAULT_HOME = Path(os.environ.get("CINEFUSE_HOME", Path.home() / ".cinefuse"))


@dataclass
class Settings:
    """Everything that decides which models made an index and where it lives.

    Example:
        >>> Settings(store="/tmp/idx").text_model
        'all-MiniLM-L6-v2'
    """

    store: str = str(DEFAULT_HOME / "index")  # a local path, ":memory:", or http(s)://host:6333
    api_key: str | None = None
    collection: str = "movies"
    text_model: str = "all-MiniLM-L6-v2"  # a sentence-transformers name or local path
    image_model: str = "ViT-B-32"
    image_pretrained: str | None = "laion2b_s34b_b79k"  # a pretrained tag, a local checkpoint path, or None
    allow_untrained_image_model: bool = False
    device: str = "auto"
    text_batch_size: int = 64
    image_batch_size: int = 32
    max_reviews_per_movie: int = 20
    review_chunks_per_movie: int = 8  # the encoding budget of the reviews signal (chunks of up to 256 tokens)
    cf_factors: int = 128
    cache_dir: str = str(DEFAULT_HOME / "cache")
    skip_bad_rows: bool = False
    movielens_url: str = "https://files.grouplens.org/datasets/movielens"

    @classmethod
    def load(cls, toml_path: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
        """Build settings: defaults < TOML file < ``CINEFUSE_*`` env vars < non-None ``overrides``.

        Example:
            >>> Settings.load(store=":memory:").store
            ':memory:'
        """
        values: dict[str, Any] = {}
        names = {f.name: f for f in dataclasses.fields(cls)}
        if toml_path is not None:
            with open(toml_path, "rb") as fh:
                data = tomllib.load(fh)
            unknown = set(data) - set(names)
            if unknown:
                raise CinefuseError(f"{toml_path}: unknown setting(s) {sorted(unknown)}; "
                                    f"known: {sorted(names)}")
            values.update(data)
        for name, f in names.items():
            env = os.environ.get(f"CINEFUSE_{name.upper()}")
            if env is not None:
                values[name] = _parse_env(env, f.type)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain data, saved with a built index (the API key is never saved)."""
        data = dataclasses.asdict(self)
        data["api_key"] = None
        return data


def _parse_env(raw: str, annotation: Any) -> Any:
    text = str(annotation)
    if "bool" in text:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if text.startswith("int"):
        return int(raw)
    if "None" in text and raw.strip().lower() in {"", "none", "null"}:
        return None
    return raw
