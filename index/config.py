"""Settings are data: one validated model, filled from defaults, an optional TOML file, then CINEFUSE_* env vars,
then explicit overrides (CLI flags). Every value is checked once, when it is read, and a bad one is reported with
where it came from (the TOML file, the environment variable or the flag) and what to write instead."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from index.errors import SettingsError

DEFAULT_HOME = Path(os.environ.get("CINEFUSE_HOME", Path.home() / ".cinefuse"))
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}
_DEVICES = ("auto", "cpu", "cuda", "mps")

NonEmpty = Annotated[str, Field(min_length=1)]


class Settings(BaseModel):
    """Everything that decides which models made an index and where it lives.

    Example:
        >>> Settings(store="/tmp/idx").text_model
        'all-MiniLM-L6-v2'
        >>> Settings.load(text_batch_size=0)
        Traceback (most recent call last):
        ...
        encoders.errors.SettingsError: setting 'text_batch_size' (from --text-batch-size): 0 input should be ...
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=False)

    store: NonEmpty = str(DEFAULT_HOME / "index")  # a local path, ":memory:", or http(s)://host:6333
    api_key: str | None = None
    collection: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = "movies"
    text_model: NonEmpty = "all-MiniLM-L6-v2"  # a sentence-transformers name or local path
    image_model: NonEmpty = "ViT-B-32"
    image_pretrained: str | None = "laion2b_s34b_b79k"  # a pretrained tag, a local checkpoint path, or None
    allow_untrained_image_model: bool = False
    device: NonEmpty = "auto"
    text_batch_size: Annotated[int, Field(ge=1, le=65536)] = 64
    image_batch_size: Annotated[int, Field(ge=1, le=65536)] = 32
    max_reviews_per_movie: Annotated[int, Field(ge=0, le=10000)] = 20
    review_chunks_per_movie: Annotated[int, Field(ge=1, le=1000)] = 8  # the reviews signal's encoding budget
    cf_factors: Annotated[int, Field(ge=1, le=4096)] = 128
    cache_dir: NonEmpty = str(DEFAULT_HOME / "cache")
    skip_bad_rows: bool = False
    movielens_url: NonEmpty = "https://files.grouplens.org/datasets/movielens"
    server_timeout_s: Annotated[float, Field(gt=0, le=600)] = 10.0  # how long a Qdrant server may take to answer
    artifacts: str | None = None  # for a server index: the shared folder holding its ranker and explainer
    sessions: NonEmpty = "memory"  # chat sessions: "memory", "store" (beside a server index), a URL or qdrant-local://
    session_ttl_days: Annotated[float, Field(gt=0, le=3650)] = 30.0
    # the collection's storage and index (index.store.CollectionConfig documents each; fixed when it is made)
    hnsw_m: Annotated[int, Field(ge=2, le=512)] = 16
    hnsw_ef_construct: Annotated[int, Field(ge=4, le=4096)] = 100
    hnsw_ef: Annotated[int, Field(ge=1, le=65536)] | None = None
    on_disk_vectors: bool = False
    quantization: Literal["none", "int8"] = "none"
    shard_number: Annotated[int, Field(ge=1, le=1024)] = 1  # a Qdrant server or cluster only
    replication_factor: Annotated[int, Field(ge=1, le=64)] = 1

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        kind = value.strip().lower()
        if kind.split(":")[0] not in _DEVICES or (":" in kind and not kind.startswith("cuda:")):
            raise ValueError(f"expected one of {', '.join(_DEVICES)} or cuda:N")
        return kind

    @field_validator("store", "cache_dir", "text_model", "image_model")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is empty")
        return value.strip()

    @classmethod
    def load(cls, toml_path: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
        """Build settings: defaults < TOML file < ``CINEFUSE_*`` env vars < non-None ``overrides``.

        Raises :class:`~index.errors.SettingsError` naming the file, variable or flag of a bad value.

        Example:
            >>> Settings.load(store=":memory:").store
            ':memory:'
        """
        values: dict[str, Any] = {}
        origin: dict[str, str] = {}
        names = set(cls.model_fields)
        if toml_path is not None:
            data = _read_toml(Path(toml_path))
            unknown = set(data) - names
            if unknown:
                raise SettingsError(f"{toml_path}: unknown setting(s) {sorted(unknown)}; known: {sorted(names)}")
            values.update(data)
            origin.update({k: f"{toml_path}, key '{k}'" for k in data})
        for name in names:
            var = f"CINEFUSE_{name.upper()}"
            raw = os.environ.get(var)
            if raw is not None:
                values[name] = _from_env(raw, name, var, cls.model_fields[name].annotation)
                origin[name] = f"environment variable {var}={raw!r}"
        given = {k: v for k, v in overrides.items() if v is not None}
        values.update(given)
        origin.update({k: f"--{k.replace('_', '-')}" for k in given})
        try:
            return cls(**values)
        except ValidationError as exc:
            raise SettingsError(describe_errors(exc, origin)) from None

    def replace(self, **changes: Any) -> Settings:
        """A copy with some values changed, validated like the original.

        Example:
            >>> Settings(store="a").replace(store="b").store
            'b'
        """
        try:
            return type(self)(**{**self.model_dump(), **changes})
        except ValidationError as exc:
            raise SettingsError(describe_errors(exc, {})) from None

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain data, saved with a built index (the API key is never saved)."""
        data = self.model_dump()
        data["api_key"] = None
        return data

    def is_server(self) -> bool:
        """Whether the store is a Qdrant server URL, or ``qdrant-local://PATH`` (qdrant-client's local mode, which
        stands in for a server), rather than a Qdrant Edge folder or ``:memory:``.

        Example:
            >>> Settings(store="http://localhost:6333").is_server(), Settings(store="runs/index").is_server()
            (True, False)
        """
        return self.store.startswith(("http://", "https://", "qdrant-local://"))


def artifact_dir(settings: Settings) -> Path:
    """Where an index's trained parts (``ranker.pkl``, ``explainer/``) live: inside a local index's folder, so
    they move and swap with it; for a Qdrant server, ``settings.artifacts`` (a folder every serving machine can
    read), else a folder per server and collection under the cache (this machine only).

    Example:
        >>> artifact_dir(Settings(store="/data/index")).as_posix()
        '/data/index'
        >>> artifact_dir(Settings(store="http://q:6333", artifacts="/shared/cinefuse")).as_posix()
        '/shared/cinefuse'
    """
    if settings.is_server() or settings.store == ":memory:":
        if settings.artifacts:
            return Path(settings.artifacts).expanduser()
        slug = re.sub(r"[^\w.-]+", "_", settings.store.split("://", 1)[-1]).strip("_")
        return Path(settings.cache_dir).expanduser() / "artifacts" / f"{slug}-{settings.collection}"
    return Path(settings.store).expanduser()


def describe_errors(exc: ValidationError, origin: dict[str, str]) -> str:
    """One line per bad setting: which setting, where its value came from, what is wrong with it."""
    lines = []
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else "settings"
        where = origin.get(name, "")
        value = err.get("input")
        shown = "" if isinstance(value, dict) else f" {value!r}"
        lines.append(f"setting '{name}'{f' (from {where})' if where else ''}:{shown} {err['msg'].lower()}")
    return "; ".join(lines) + ". Fix the value or leave it out to use the default."


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise SettingsError(f"--config {path}: no such file; pass an existing TOML file, or leave --config out"
                            ) from None
    except IsADirectoryError:
        raise SettingsError(f"--config {path}: is a folder; pass a TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"--config {path}: not valid TOML ({exc}); fix the file") from None
    except UnicodeDecodeError:
        raise SettingsError(f"--config {path}: not a UTF-8 text file; pass a TOML file") from None


def _from_env(raw: str, name: str, var: str, annotation: Any) -> Any:
    text = str(annotation)
    if "bool" in text:
        word = raw.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise SettingsError(f"{var}={raw!r}: expected a yes/no value (1, true, yes, on or 0, false, no, off)")
    if "None" in text and raw.strip().lower() in {"", "none", "null"}:
        return None
    if "str" in text and not raw.strip() and "None" not in text:
        raise SettingsError(f"{var} is set but empty: give '{name}' a value, or unset {var} to use the default")
    return raw
