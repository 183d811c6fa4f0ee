"""One Qdrant collection with a named vector per signal, behind one small interface.

`open_store(location)` picks the backend: a local path (or ``":memory:"``) opens Qdrant Edge in-process; an
``http(s)://`` URL opens a Qdrant server through qdrant-client; ``backend="client"`` with a path opens
qdrant-client's local mode (a second embedded backend, used by the congruence tests). Callers never branch.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from index.errors import StoreError

log = logging.getLogger(__name__)

SIGNALS: tuple[str, ...] = ("overview", "reviews", "poster", "cf")
#: a store location served by qdrant-client's local mode: ``qdrant-local:///path`` (a server stand-in)
CLIENT_LOCAL = "qdrant-local://"
METADATA_FILE = "cinefuse.json"
RRF_K = 60
Backend = Literal["auto", "edge", "client"]


def rrf_term(rank: int | np.ndarray, weight: float = 1.0, k: int = RRF_K) -> np.ndarray:
    """What a result at 0-based ``rank`` adds to a reciprocal-rank-fused score in Qdrant (Edge and server):
    ``1 / (k - 1 + (rank + 1) / weight)``. A weight stretches the ranks rather than scaling the score, so a
    low-weight signal's first hit still adds almost ``1/k``; weight 0 adds nothing.

    Example:
        >>> round(float(rrf_term(0)), 5), round(float(rrf_term(1, weight=0.5)), 5)
        (0.01667, 0.01587)
    """
    ranks = np.asarray(rank, dtype=np.float64)
    if weight <= 0:
        return np.zeros_like(ranks)
    return 1.0 / (k - 1 + (ranks + 1) / weight)


@dataclass(frozen=True)
class VectorSpec:
    """One named vector: its size and the model that made it (recorded so vectors are never mixed). A ``sparse``
    vector (BM25 term weights; ``dim`` 0) is scored by dot product with Qdrant's ``idf`` modifier, so the engine
    keeps the inverse document frequencies up to date as movies are added.

    Example:
        >>> VectorSpec(0, "bm25", kind="sparse").kind
        'sparse'
    """

    dim: int
    model: str
    distance: Literal["cosine", "dot"] = "cosine"  # collaborative factors score by dot product
    kind: Literal["dense", "sparse"] = "dense"


@dataclass(frozen=True)
class SparseVector:
    """A sparse vector: term ids and their weights (a BM25 document or query).

    Example:
        >>> SparseVector((3, 7), (1.0, 0.5)).indices
        (3, 7)
    """

    indices: tuple[int, ...]
    values: tuple[float, ...]

    def __bool__(self) -> bool:
        return bool(self.indices)


@dataclass
class StoreSchema:
    """The named vectors a collection holds, plus free-form build info saved with it.

    Example:
        >>> StoreSchema({"overview": VectorSpec(384, "all-MiniLM-L6-v2")}).vectors["overview"].dim
        384
    """

    vectors: dict[str, VectorSpec]
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"vectors": {k: asdict(v) for k, v in self.vectors.items()}, "info": self.info}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StoreSchema:
        return cls({k: VectorSpec(**v) for k, v in data["vectors"].items()}, dict(data.get("info", {})))

    def conflicts(self, other: StoreSchema) -> list[str]:
        """What differs between two schemas' vectors, as sentences; empty when they can share a store."""
        problems = []
        for name in sorted(set(self.vectors) | set(other.vectors)):
            mine, theirs = self.vectors.get(name), other.vectors.get(name)
            if mine != theirs:
                problems.append(f"vector '{name}': stored {_describe(mine)}, requested {_describe(theirs)}")
        return problems


#: The payload fields filters run on inside the engine, and their index: keyword (exact strings), integer, float,
#: or text (full-text: a phrase matches word for word, case aside)
PAYLOAD_INDEXES = {
    "genres": "keyword", "year": "integer", "decade": "integer", "runtime": "integer", "popularity": "float",
    "rating_count": "integer", "directors": "keyword", "cast": "keyword", "writers": "keyword",
    "companies": "keyword", "collection": "keyword", "keywords": "keyword", "tags": "keyword",
    "tag_keys": "keyword", "original_language": "keyword", "spoken_languages": "keyword", "countries": "keyword",
    "title": "text", "overview": "text",
}
TEXT_FIELDS = tuple(k for k, kind in PAYLOAD_INDEXES.items() if kind == "text")


@dataclass(frozen=True)
class CollectionConfig:
    """How the collection stores and indexes its vectors: what matters once a catalogue has tens of thousands of
    movies. Read from :class:`~index.config.Settings` (``hnsw_m``, ``hnsw_ef_construct``, ``hnsw_ef``,
    ``on_disk_vectors``, ``quantization``, ``shard_number``, ``replication_factor``) and saved with the index.

    * ``hnsw_m`` / ``hnsw_ef_construct``: edges per HNSW node and the candidate list while building it (Qdrant's
      defaults, 16 and 100, reach recall@10 above 0.99 at ML-32M's 87k movies; see the README's Scale section).
    * ``hnsw_ef``: the candidate list while searching (None: Qdrant's default, 128 at least the limit).
    * ``on_disk_vectors``: keep the original vectors memory-mapped instead of in RAM (for catalogues whose
      vectors outgrow the machine: with ``quantization="int8"`` searches then read the quarter-size int8 copy
      held in RAM and go to disk only to rescore).
    * ``quantization``: ``"int8"`` scalar quantization (4x less memory per vector; searches oversample 2x and
      rescore with the originals) or ``"none"``.
    * ``payload_indexes``: the payload fields filters use, indexed so a filtered query stays fast
      (:data:`PAYLOAD_INDEXES`: people, companies, franchise, keywords, tags, languages, countries as keywords;
      year, decade, runtime, rating count as integers; popularity as a float; title and overview full-text).
    * ``shard_number`` / ``replication_factor``: a Qdrant server or cluster's shards and copies per shard (an
      embedded store has one shard).

    Example:
        >>> CollectionConfig.from_settings({"quantization": "int8"}).quantization
        'int8'
        >>> CollectionConfig(quantization="int4")
        Traceback (most recent call last):
        ...
        index.errors.StoreError: quantization 'int4' is not supported: use 'none' or 'int8'
    """

    hnsw_m: int = 16
    hnsw_ef_construct: int = 100
    hnsw_ef: int | None = None
    on_disk_vectors: bool = False
    quantization: Literal["none", "int8"] = "none"
    shard_number: int = 1
    replication_factor: int = 1
    payload_indexes: tuple[tuple[str, str], ...] = tuple(PAYLOAD_INDEXES.items())

    def __post_init__(self) -> None:
        if self.quantization not in ("none", "int8"):
            raise StoreError(f"quantization {self.quantization!r} is not supported: use 'none' or 'int8'")
        for name in ("hnsw_m", "hnsw_ef_construct", "shard_number", "replication_factor"):
            if int(getattr(self, name)) < 1:
                raise StoreError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.hnsw_ef is not None and self.hnsw_ef < 1:
            raise StoreError(f"hnsw_ef must be at least 1 (or None for Qdrant's default), got {self.hnsw_ef}")

    @classmethod
    def from_settings(cls, settings: Any) -> CollectionConfig:
        """From a :class:`~index.config.Settings` or its dict; fields it lacks keep their defaults."""
        data = settings if isinstance(settings, dict) else (
            settings.model_dump() if hasattr(settings, "model_dump") else vars(settings))
        names = ("hnsw_m", "hnsw_ef_construct", "hnsw_ef", "on_disk_vectors", "quantization", "shard_number",
                 "replication_factor")
        return cls(**{n: data[n] for n in names if n in data and (data[n] is not None or n == "hnsw_ef")})

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "payload_indexes": [list(kv) for kv in self.payload_indexes]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CollectionConfig:
        data = dict(data)
        if "payload_indexes" in data:
            data["payload_indexes"] = tuple(tuple(kv) for kv in data["payload_indexes"])
        return cls(**data)

    @property
    def quantized(self) -> bool:
        return self.quantization == "int8"

    @property
    def tuned_search(self) -> bool:
        """Whether queries need search parameters (else the engine's defaults serve)."""
        return self.quantized or self.hnsw_ef is not None


#: how much a quantized search oversamples before rescoring with the original vectors
QUANTIZATION_OVERSAMPLING = 2.0


def collection_config(schema: StoreSchema | None) -> CollectionConfig:
    """The collection settings an index was (or is to be) built with: saved under ``info["collection"]``, else
    taken from the build settings in ``info["settings"]``, else the defaults.

    Example:
        >>> collection_config(StoreSchema({}, {"settings": {"hnsw_m": 32}})).hnsw_m
        32
    """
    if schema is None:
        return CollectionConfig()
    if "collection" in schema.info:
        return CollectionConfig.from_dict(schema.info["collection"])
    return CollectionConfig.from_settings(schema.info.get("settings", {}))


def _describe(spec: VectorSpec | None) -> str:
    if spec is None:
        return "nothing"
    return f"sparse from '{spec.model}'" if spec.kind == "sparse" else f"{spec.dim}-d from model '{spec.model}'"


@dataclass
class StorePoint:
    """A movie as stored: its movieId, one vector per signal it has, and its payload."""

    id: int
    vectors: dict[str, np.ndarray | SparseVector]
    payload: dict[str, Any]


@dataclass
class Hit:
    """One scored result."""

    id: int
    score: float
    payload: dict[str, Any] | None = None


@dataclass(frozen=True)
class FieldMatch:
    """A condition on the payload: one of ``keys`` holds one of ``values``. A keyword or integer field matches a
    value exactly; a full-text field (``TEXT_FIELDS``) matches a phrase, word for word, case aside.

    Example:
        >>> FieldMatch(("directors",), ("Christopher Nolan",)).keys
        ('directors',)
    """

    keys: tuple[str, ...]
    values: tuple[str | int, ...]

    def __post_init__(self) -> None:
        unknown = [k for k in self.keys if k not in PAYLOAD_INDEXES]
        if unknown or not self.keys:
            raise StoreError(f"cannot filter on payload field(s) {unknown or '(none)'}: the indexed fields are "
                             f"{', '.join(sorted(PAYLOAD_INDEXES))}")
        if not self.values:
            raise StoreError(f"a filter on {', '.join(self.keys)} needs at least one value")


@dataclass
class Filters:
    """Payload filters every backend understands: every ``match`` must hold, no ``exclude`` may.

    Example:
        >>> Filters(genres=["Animation"], year_min=1990).is_empty()
        False
        >>> Filters(match=[FieldMatch(("directors",), ("Christopher Nolan",))]).is_empty()
        False
    """

    genres: list[str] = field(default_factory=list)  # any of these
    exclude_genres: list[str] = field(default_factory=list)
    year_min: int | None = None
    year_max: int | None = None
    exclude_ids: list[int] = field(default_factory=list)
    only_ids: list[int] | None = None
    match: list[FieldMatch] = field(default_factory=list)  # all of these
    exclude: list[FieldMatch] = field(default_factory=list)  # none of these
    runtime_min: int | None = None  # minutes
    runtime_max: int | None = None

    def is_empty(self) -> bool:
        return not (self.genres or self.exclude_genres or self.exclude_ids or self.only_ids is not None
                    or self.year_min is not None or self.year_max is not None or self.match or self.exclude
                    or self.runtime_min is not None or self.runtime_max is not None)

    def merged(self, other: Filters | None) -> Filters:
        """Both sets of conditions at once (the narrower year and runtime ranges, ids allowed by both).

        Example:
            >>> Filters(year_min=1990).merged(Filters(year_min=1995, genres=["Comedy"])).year_min
            1995
        """
        if other is None:
            return self
        only = (other.only_ids if self.only_ids is None else self.only_ids if other.only_ids is None
                else sorted(set(self.only_ids) & set(other.only_ids)))
        genre_rules = [FieldMatch(("genres",), tuple(g)) for g in (self.genres, other.genres) if g]
        return Filters(
            genres=[], exclude_genres=sorted(set(self.exclude_genres) | set(other.exclude_genres)),
            year_min=_tighter(self.year_min, other.year_min, max),
            year_max=_tighter(self.year_max, other.year_max, min),
            exclude_ids=sorted(set(self.exclude_ids) | set(other.exclude_ids)), only_ids=only,
            match=[*self.match, *other.match, *genre_rules], exclude=[*self.exclude, *other.exclude],
            runtime_min=_tighter(self.runtime_min, other.runtime_min, max),
            runtime_max=_tighter(self.runtime_max, other.runtime_max, min))


def _tighter(a: int | None, b: int | None, pick: Any) -> int | None:
    return a if b is None else b if a is None else int(pick(a, b))


def passes(payload: dict[str, Any], filters: Filters | None, movie_id: int | None = None) -> bool:
    """Whether a stored movie satisfies ``filters``: the reference the engines' answers are checked against, and
    the check for candidates that come from outside the store (the collaborative models' own picks).

    Example:
        >>> p = {"genres": ["Comedy"], "year": 1995, "directors": ["Rob Reiner"], "runtime": 95}
        >>> passes(p, Filters(match=[FieldMatch(("directors",), ("Rob Reiner",))], runtime_max=100))
        True
        >>> passes(p, Filters(exclude=[FieldMatch(("genres",), ("Comedy",))]))
        False
    """
    if filters is None or filters.is_empty():
        return True
    f = filters
    if movie_id is not None and (movie_id in f.exclude_ids or (f.only_ids is not None and movie_id not in f.only_ids)):
        return False
    genres = set(payload.get("genres") or [])
    if f.genres and not genres & set(f.genres):
        return False
    if genres & set(f.exclude_genres):
        return False
    for key, lo, hi in (("year", f.year_min, f.year_max), ("runtime", f.runtime_min, f.runtime_max)):
        if lo is None and hi is None:
            continue
        value = payload.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            return False
    return all(_holds(payload, m) for m in f.match) and not any(_holds(payload, m) for m in f.exclude)


def _holds(payload: dict[str, Any], m: FieldMatch) -> bool:
    for key in m.keys:
        value = payload.get(key)
        if value is None:
            continue
        if PAYLOAD_INDEXES[key] == "text":
            words = _words(" ".join(value) if isinstance(value, list) else str(value))
            for phrase in m.values:
                wanted = _words(str(phrase))
                if wanted and any(words[i:i + len(wanted)] == wanted for i in range(len(words) - len(wanted) + 1)):
                    return True
        else:
            have = set(value) if isinstance(value, list) else {value}
            if have & set(m.values):
                return True
    return False


def _words(text: str) -> list[str]:
    """The full-text indexes' tokens: runs of letters and digits, lowercased (Qdrant's word tokenizer)."""
    return [w.lower() for w in re.findall(r"[^\W_]+", text)]


@dataclass
class SignalQuery:
    """A query on one named vector: a vector, or positive and negative examples (recommend, best score).

    Example:
        >>> SignalQuery("overview", vector=np.ones(3, dtype=np.float32)).using
        'overview'
    """

    using: str
    vector: np.ndarray | SparseVector | None = None
    positives: list[np.ndarray] = field(default_factory=list)
    negatives: list[np.ndarray] = field(default_factory=list)
    weight: float = 1.0
    filters: Filters | None = None  # in a fused query: this source only sees movies that also pass these

    def __post_init__(self) -> None:
        if self.vector is None and not self.positives:
            raise ValueError(f"SignalQuery on '{self.using}' needs a vector or at least one positive example")


@dataclass(frozen=True)
class Boost:
    """A score bonus in a fused query: movies whose payload satisfies ``match`` gain ``weight`` (a Qdrant formula
    over the fused score), so they lead without excluding the rest.

    Example:
        >>> Boost(FieldMatch(("keywords",), ("heist",)), 1.0).weight
        1.0
    """

    match: FieldMatch
    weight: float = 1.0


FusionMethod = Literal["rrf", "dbsf"]


class VectorStore(Protocol):
    """What every backend does: the same answers, whatever the engine."""

    location: str

    def schema(self) -> StoreSchema | None: ...
    def create(self, schema: StoreSchema) -> None: ...
    def update_info(self, info: dict[str, Any]) -> None: ...
    def upsert(self, points: Sequence[StorePoint]) -> None: ...
    def set_vectors(self, name: str, vectors: dict[int, np.ndarray]) -> None: ...
    def search(self, query: SignalQuery, *, limit: int = 10, filters: Filters | None = None,
               with_payload: bool = True) -> list[Hit]: ...
    def search_batch(self, queries: Sequence[SignalQuery], *, limit: int = 10,
                     filters: Filters | None = None, with_payload: bool = False) -> list[list[Hit]]: ...
    def fuse(self, queries: Sequence[SignalQuery], *, limit: int = 10, filters: Filters | None = None,
             prefetch_limit: int = 100, with_payload: bool = True, fusion: FusionMethod = "rrf",
             boosts: Sequence[Boost] = ()) -> list[Hit]: ...
    def top(self, key: str, *, limit: int = 10, filters: Filters | None = None,
            with_payload: bool = True) -> list[Hit]: ...
    def vectors(self, ids: Sequence[int], names: Sequence[str]) -> dict[int, dict[str, np.ndarray]]: ...
    def payloads(self, ids: Sequence[int] | None = None) -> dict[int, dict[str, Any]]: ...
    def count(self, filters: Filters | None = None) -> int: ...
    def close(self) -> None: ...
    def __enter__(self) -> VectorStore: ...
    def __exit__(self, *exc: object) -> None: ...


def open_store(location: str | os.PathLike[str], *, api_key: str | None = None, collection: str = "movies",
               backend: Backend = "auto", timeout_s: float = 10.0) -> VectorStore:
    """Open the store at ``location``: a local path or ``":memory:"`` (Qdrant Edge), or a server URL.

    ``backend="client"`` serves a path or ``":memory:"`` through qdrant-client's local mode instead of Edge. A
    server that cannot be reached within ``timeout_s`` seconds gives a :class:`StoreError` naming it.

    Example:
        >>> store = open_store(":memory:")
        >>> store.count()
        0
        >>> store.close()
    """
    loc = str(location)
    if not loc.strip():
        raise StoreError("the store location is empty: pass --store (a folder, or a Qdrant server URL)")
    if loc.startswith((CLIENT_LOCAL, "http://", "https://")):
        return ClientStore(qdrant_client(loc, api_key=api_key, timeout_s=timeout_s), collection, loc)
    if backend == "client":
        from qdrant_client import QdrantClient

        client = QdrantClient(location=":memory:") if loc == ":memory:" else QdrantClient(path=loc)
        return ClientStore(client, collection, loc)
    if loc != ":memory:":
        recover_interrupted_swap(loc)
    return EdgeStore(loc)


def qdrant_client(location: str, *, api_key: str | None = None, timeout_s: float = 10.0) -> Any:
    """A qdrant-client for a server URL (checked to answer within ``timeout_s``) or ``qdrant-local://PATH``
    (qdrant-client's local mode, standing in for a server in tests and notebooks).

    Example:
        >>> # qdrant_client("http://qdrant:6333", api_key="...").get_collections()
    """
    from qdrant_client import QdrantClient

    if location.startswith(CLIENT_LOCAL):
        return QdrantClient(path=str(Path(location[len(CLIENT_LOCAL):]).expanduser()))
    client = QdrantClient(url=location, api_key=api_key, timeout=max(1, int(round(timeout_s))),
                          check_compatibility=False)  # _check_reachable names an unreachable server
    _check_reachable(client, location, timeout_s)
    return client


def _check_reachable(client: Any, url: str, timeout_s: float) -> None:
    """One cheap request, so an unreachable server fails here, by name, instead of deep inside a query."""
    try:
        client.get_collections()
    except Exception as exc:  # noqa: BLE001 - httpx, grpc and qdrant-client raise many types for one cause
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise StoreError(f"cannot reach the Qdrant server at {url} within {timeout_s:g} s ({reason}). Check the "
                         "URL and that the server is running (and --api-key where it needs one)") from None


# ---------------------------------------------------------------------------------------------------------
# Qdrant Edge
# ---------------------------------------------------------------------------------------------------------


class EdgeStore:
    """Qdrant Edge, in-process, persisted at a local folder (``":memory:"``: a temporary folder).

    The folder holds the shard's own files plus ``cinefuse.json`` with the schema (which model made which
    vector). Edge locks its write-ahead log, so a second process opening the folder gets a StoreError.
    """

    def __init__(self, location: str) -> None:
        self.location = location
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if location == ":memory:":
            self._tmp = tempfile.TemporaryDirectory(prefix="cinefuse-edge-")
            self.path = Path(self._tmp.name)
        else:
            self.path = Path(location).expanduser()
        self._shard: Any = None
        self._schema: StoreSchema | None = None
        meta = self.path / METADATA_FILE
        if meta.exists():
            try:
                self._schema = StoreSchema.from_dict(json.loads(meta.read_text()))
            except (ValueError, KeyError, TypeError) as exc:
                raise StoreError(f"{meta} is not a cinefuse index description ({exc}); "
                                 "rebuild the index or point --store elsewhere") from exc
            self._shard = _load_edge(self.path)

    def schema(self) -> StoreSchema | None:
        return self._schema

    def create(self, schema: StoreSchema) -> None:
        from qdrant_edge import (
            Distance,
            EdgeConfig,
            EdgeShard,
            EdgeSparseVectorParams,
            EdgeVectorParams,
            HnswIndexConfig,
            Memory,
            Modifier,
            PayloadSchemaType,
            ScalarQuantizationConfig,
            ScalarType,
            TextIndexParams,
            TokenizerType,
            UpdateOperation,
        )

        if self._schema is not None:
            problems = self._schema.conflicts(schema)
            if problems:
                raise StoreError(f"the index at {self.path} was built with other models: "
                                 + "; ".join(problems) + ". Rebuild it (--rebuild) or use another --store.")
            self._write_schema(_keep_collection(self._schema, schema, str(self.path)))
            return
        self.path.mkdir(parents=True, exist_ok=True)
        cfg = collection_config(schema)
        kinds = {"cosine": Distance.Cosine, "dot": Distance.Dot}
        quantization = (ScalarQuantizationConfig(ScalarType.Int8, quantile=0.99, memory=Memory.Pinned)
                        if cfg.quantized else None)
        config = EdgeConfig(
            vectors={name: EdgeVectorParams(size=spec.dim, distance=kinds[spec.distance],
                                            memory=Memory.Cold if cfg.on_disk_vectors else Memory.Cached,
                                            quantization_config=quantization)
                     for name, spec in schema.vectors.items() if spec.kind == "dense"},
            sparse_vectors={name: EdgeSparseVectorParams(modifier=Modifier.Idf)
                            for name, spec in schema.vectors.items() if spec.kind == "sparse"} or None,
            hnsw_config=HnswIndexConfig(m=cfg.hnsw_m, ef_construct=cfg.hnsw_ef_construct, full_scan_threshold=10_000))
        self._shard = EdgeShard.create(str(self.path), config)
        schema = StoreSchema(schema.vectors, {**schema.info, "collection": cfg.to_dict()})
        for key, kind in cfg.payload_indexes:
            edge_kind: Any = {"keyword": PayloadSchemaType.Keyword, "integer": PayloadSchemaType.Integer,
                              "float": PayloadSchemaType.Float}.get(kind)
            if kind == "text":  # Qdrant's word tokenizer, lowercased, no stemming: what a server without the index
                edge_kind = TextIndexParams(tokenizer=TokenizerType.Word, lowercase=True,  # and qdrant-client match
                                            phrase_matching=True)
            self._shard.update(UpdateOperation.create_field_index(key, edge_kind))
        self._write_schema(schema)

    def update_info(self, info: dict[str, Any]) -> None:
        """Add build information (what trained the ranker, its fingerprint) to the saved schema."""
        schema = self._schema or _no_index(self.location)
        self._write_schema(StoreSchema(schema.vectors, {**schema.info, **info}))

    def _write_schema(self, schema: StoreSchema) -> None:
        tmp = self.path / (METADATA_FILE + ".tmp")
        tmp.write_text(json.dumps(schema.to_dict(), indent=2, sort_keys=True))
        tmp.replace(self.path / METADATA_FILE)
        self._schema = schema

    def _require(self) -> Any:
        if self._shard is None:
            raise StoreError(f"no index at {self.path}: build one first (cinefuse build --data DIR)")
        return self._shard

    def upsert(self, points: Sequence[StorePoint]) -> None:
        from qdrant_edge import Point, UpdateOperation

        if not points:
            return
        shard = self._require()
        _check_dims(points, self._schema)
        shard.update(UpdateOperation.upsert_points([
            Point(p.id, {k: _edge_vector(v) for k, v in p.vectors.items()}, p.payload) for p in points]))

    def set_vectors(self, name: str, vectors: dict[int, np.ndarray]) -> None:
        """Write one named vector for existing points (the collaborative vectors come after the build)."""
        from qdrant_edge import PointVectors, UpdateOperation

        shard = self._require()
        items = list(vectors.items())
        for start in range(0, len(items), 1000):
            shard.update(UpdateOperation.update_vectors([
                PointVectors(pid, {name: np.asarray(v, dtype=np.float32).tolist()})
                for pid, v in items[start:start + 1000]]))

    def _params(self) -> Any:
        """Search parameters from the collection settings (None: the engine's defaults)."""
        cfg = collection_config(self._schema)
        if not cfg.tuned_search:
            return None
        from qdrant_edge import QuantizationSearchParams, SearchParams

        quantization = (QuantizationSearchParams(rescore=True, oversampling=QUANTIZATION_OVERSAMPLING)
                        if cfg.quantized else None)
        return SearchParams(hnsw_ef=cfg.hnsw_ef, quantization=quantization)

    def search(self, query: SignalQuery, *, limit: int = 10, filters: Filters | None = None,
               with_payload: bool = True) -> list[Hit]:
        from qdrant_edge import QueryRequest

        request = QueryRequest(limit=limit, query=_edge_query(query), filter=_edge_filter(filters),
                               with_payload=with_payload, with_vector=False, params=self._params())
        return [_hit(p, with_payload) for p in self._require().query(request)]

    def search_batch(self, queries: Sequence[SignalQuery], *, limit: int = 10, filters: Filters | None = None,
                     with_payload: bool = False) -> list[list[Hit]]:
        from qdrant_edge import QueryBatchRequest, QueryRequest

        flt = _edge_filter(filters)
        params = self._params()
        requests = [QueryRequest(limit=limit, query=_edge_query(q), filter=flt, with_payload=with_payload,
                                 with_vector=False, params=params) for q in queries]
        results = self._require().query_batch(QueryBatchRequest(requests))
        return [[_hit(p, with_payload) for p in res] for res in results]

    def fuse(self, queries: Sequence[SignalQuery], *, limit: int = 10, filters: Filters | None = None,
             prefetch_limit: int = 100, with_payload: bool = True, fusion: FusionMethod = "rrf",
             boosts: Sequence[Boost] = ()) -> list[Hit]:
        from qdrant_edge import Fusion, Prefetch, QueryRequest

        if len(queries) == 1 and not boosts and queries[0].filters is None:
            return self.search(queries[0], limit=limit, filters=filters, with_payload=with_payload)
        flt = _edge_filter(filters)
        params = self._params()
        sources = [Prefetch(limit=prefetch_limit, query=_edge_query(q),
                            filter=_edge_filter((filters or Filters()).merged(q.filters)) if q.filters else flt,
                            params=None if isinstance(q.vector, SparseVector) else params)
                   for q in queries]
        method: Any = Fusion.Dbsf() if fusion == "dbsf" else Fusion.Rrf(k=RRF_K, weights=[q.weight for q in queries])
        if boosts:
            fused = sources if len(sources) == 1 else [Prefetch(limit=prefetch_limit, prefetches=sources,
                                                                query=method, filter=flt)]
            request = QueryRequest(limit=limit, prefetches=fused, query=_edge_formula(boosts), filter=flt,
                                   with_payload=with_payload, with_vector=False)
        else:
            request = QueryRequest(limit=limit, prefetches=sources, query=method, filter=flt,
                                   with_payload=with_payload, with_vector=False)
        return [_hit(p, with_payload) for p in self._require().query(request)]

    def top(self, key: str, *, limit: int = 10, filters: Filters | None = None, with_payload: bool = True
            ) -> list[Hit]:
        """The movies passing ``filters`` with the largest ``key`` (an indexed number, e.g. ``rating_count``)."""
        from qdrant_edge import Direction, OrderBy, QueryRequest

        request = QueryRequest(limit=limit, query=OrderBy(key, Direction.Desc), filter=_edge_filter(filters),
                               with_payload=with_payload, with_vector=False)
        return [_hit(p, with_payload) for p in self._require().query(request)]

    def vectors(self, ids: Sequence[int], names: Sequence[str]) -> dict[int, dict[str, np.ndarray]]:
        records = self._require().retrieve(point_ids=list(ids), with_payload=False, with_vector=list(names))
        return {int(r.id): {k: np.asarray(v, dtype=np.float32) for k, v in (r.vector or {}).items()}
                for r in records}

    def payloads(self, ids: Sequence[int] | None = None) -> dict[int, dict[str, Any]]:
        from qdrant_edge import ScrollRequest

        shard = self._require()
        if ids is not None:
            return {int(r.id): r.payload or {} for r in
                    shard.retrieve(point_ids=list(ids), with_payload=True, with_vector=False)}
        out: dict[int, dict[str, Any]] = {}
        offset = None
        while True:
            records, offset = shard.scroll(ScrollRequest(limit=2048, offset=offset, with_payload=True,
                                                         with_vector=False))
            out.update({int(r.id): r.payload or {} for r in records})
            if offset is None:
                return out

    def count(self, filters: Filters | None = None) -> int:
        from qdrant_edge import CountRequest

        if self._shard is None:
            return 0
        return int(self._shard.count(CountRequest(exact=True, filter=_edge_filter(filters))))

    def optimize(self) -> None:
        """Build the HNSW indexes now (Edge has no background optimiser)."""
        self._require().optimize()

    def close(self) -> None:
        if self._shard is not None:
            self._shard.flush()
            self._shard.close()
            self._shard = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> EdgeStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _keep_collection(stored: StoreSchema, requested: StoreSchema, where: str) -> StoreSchema:
    """``requested`` with the stored collection settings: they were fixed when the collection was made."""
    have, want = collection_config(stored), collection_config(requested)
    if have != want:
        log.warning("%s keeps the collection settings it was made with (%s); build into a new index or "
                    "collection to change them (requested %s)", where, have.to_dict(), want.to_dict())
    return StoreSchema(requested.vectors, {**requested.info, "collection": have.to_dict()})


def _no_index(location: str) -> StoreSchema:
    raise StoreError(f"no index at {location}: build one first (cinefuse build --data DIR)")


def _load_edge(path: Path) -> Any:
    from qdrant_edge import EdgeShard

    try:
        return EdgeShard.load(str(path))
    except Exception as exc:  # the bindings raise bare Exception
        text = str(exc)
        if "WouldBlock" in text or "lock" in text.lower():
            raise StoreError(f"the index at {path} is open in another process (Qdrant Edge locks its "
                             "write-ahead log). Close that process (e.g. a running `cinefuse serve`) or "
                             "serve the index from a Qdrant server URL to share it.") from None
        if "read-only" in text.lower() or "permission denied" in text.lower() or not os.access(path, os.W_OK):
            raise StoreError(f"cannot open the index at {path}: the folder is not writable ({text}). Qdrant Edge "
                             "writes its log there even to read: make the folder writable, or copy the index to "
                             "a writable folder and pass that --store") from None
        raise StoreError(f"cannot open the index at {path}: {text}. Rebuild it with cinefuse build.") from exc


def _edge_vector(v: np.ndarray | SparseVector) -> Any:
    from qdrant_edge import SparseVector as EdgeSparse

    if isinstance(v, SparseVector):
        return EdgeSparse(list(v.indices), list(v.values))
    return np.asarray(v, dtype=np.float32).tolist()


def _edge_query(q: SignalQuery) -> Any:
    from qdrant_edge import Query, RecommendQuery

    if q.vector is not None:
        return Query.Nearest(_edge_vector(q.vector), using=q.using)
    return Query.RecommendBestScore(
        RecommendQuery(positives=[np.asarray(v, dtype=np.float32).tolist() for v in q.positives],
                       negatives=[np.asarray(v, dtype=np.float32).tolist() for v in q.negatives]),
        using=q.using)


class _EdgeConditions:
    """Builds Qdrant Edge's filter objects (the same tree :class:`_ClientConditions` builds for qdrant-client)."""

    def __init__(self) -> None:
        import qdrant_edge

        self.q = qdrant_edge

    def any_of(self, key: str, values: Sequence[str | int]) -> Any:
        if PAYLOAD_INDEXES.get(key) == "text":
            return [self.q.FieldCondition(key=key, match=self.q.MatchPhrase(str(v))) for v in values]
        return [self.q.FieldCondition(key=key, match=self.q.MatchAny(any=list(values)))]  # type: ignore[arg-type]

    def range(self, key: str, lo: int | None, hi: int | None) -> Any:
        return self.q.FieldCondition(key=key, range=self.q.RangeFloat(gte=None if lo is None else float(lo),
                                                                      lte=None if hi is None else float(hi)))

    def ids(self, ids: Sequence[int]) -> Any:
        return self.q.HasIdCondition(point_ids={int(i) for i in ids})

    def group(self, must: list[Any] | None = None, should: list[Any] | None = None,
              must_not: list[Any] | None = None) -> Any:
        return self.q.Filter(must=must or None, should=should or None, must_not=must_not or None)


def _filter_tree(filters: Filters | None, make: Any) -> Any:
    """The filter as a Qdrant condition tree, built with ``make`` (one per backend, same shape)."""
    if filters is None or filters.is_empty():
        return None
    f = filters
    must: list[Any] = []
    must_not: list[Any] = []

    def one_of(m: FieldMatch) -> Any:
        conditions = [c for key in m.keys for c in make.any_of(key, m.values)]
        return conditions[0] if len(conditions) == 1 else make.group(should=conditions)

    if f.genres:
        must.append(one_of(FieldMatch(("genres",), tuple(f.genres))))
    if f.year_min is not None or f.year_max is not None:
        must.append(make.range("year", f.year_min, f.year_max))
    if f.runtime_min is not None or f.runtime_max is not None:
        must.append(make.range("runtime", f.runtime_min, f.runtime_max))
    if f.only_ids is not None:
        must.append(make.ids(f.only_ids))
    must += [one_of(m) for m in f.match]
    if f.exclude_genres:
        must_not.append(one_of(FieldMatch(("genres",), tuple(f.exclude_genres))))
    if f.exclude_ids:
        must_not.append(make.ids(f.exclude_ids))
    must_not += [one_of(m) for m in f.exclude]
    return make.group(must=must, must_not=must_not)


def _edge_filter(filters: Filters | None) -> Any:
    return _filter_tree(filters, _EdgeConditions())


def _edge_formula(boosts: Sequence[Boost]) -> Any:
    from qdrant_edge import Expression, Formula

    make = _EdgeConditions()
    terms = [Expression.Variable("$score")]
    for b in boosts:
        conditions = [c for key in b.match.keys for c in make.any_of(key, b.match.values)]
        cond = conditions[0] if len(conditions) == 1 else make.group(should=conditions)
        terms.append(Expression.Mult([Expression.Constant(float(b.weight)), Expression.Condition(cond)]))
    return Formula(Expression.Sum(terms))


def _hit(p: Any, with_payload: bool) -> Hit:
    return Hit(int(p.id), float(p.score), (p.payload or {}) if with_payload else None)


def _check_dims(points: Sequence[StorePoint], schema: StoreSchema | None) -> None:
    if schema is None:
        raise StoreError("the store has no schema yet: call create(schema) before upsert")
    for p in points:
        for name, vec in p.vectors.items():
            spec = schema.vectors.get(name)
            if spec is None:
                raise StoreError(f"movie {p.id}: vector '{name}' is not in this index "
                                 f"(it has {sorted(schema.vectors)})")
            if (spec.kind == "sparse") != isinstance(vec, SparseVector):
                raise StoreError(f"movie {p.id}: vector '{name}' is {spec.kind} in this index; pass "
                                 + ("a SparseVector" if spec.kind == "sparse" else f"a ({spec.dim},) array"))
            if isinstance(vec, SparseVector):
                if len(vec.indices) != len(vec.values):
                    raise StoreError(f"movie {p.id}: sparse vector '{name}' has {len(vec.indices)} indices but "
                                     f"{len(vec.values)} values")
                continue
            if np.shape(vec) != (spec.dim,):
                raise StoreError(f"movie {p.id}: vector '{name}' has shape {np.shape(vec)}, "
                                 f"the index expects ({spec.dim},)")


# ---------------------------------------------------------------------------------------------------------
# qdrant-client (a Qdrant server, or qdrant-client's local mode)
# ---------------------------------------------------------------------------------------------------------


class ClientStore:
    """A collection reached through qdrant-client; the schema lives in the collection's metadata."""

    def __init__(self, client: Any, collection: str, location: str) -> None:
        self.client = client
        self.collection = collection
        self.location = location
        self._config: CollectionConfig | None = None

    def _params(self) -> Any:
        """Search parameters from the collection settings (None: the server's defaults). qdrant-client's local
        mode searches exactly and ignores them."""
        if self._config is None:
            self._config = collection_config(self.schema())
        if not self._config.tuned_search or self.client._client.__class__.__name__ == "QdrantLocal":
            return None
        from qdrant_client import models

        quantization = (models.QuantizationSearchParams(rescore=True, oversampling=QUANTIZATION_OVERSAMPLING)
                        if self._config.quantized else None)
        return models.SearchParams(hnsw_ef=self._config.hnsw_ef, quantization=quantization)

    def begin_rebuild(self) -> ClientStore:
        """A new, empty physical collection to build into while ``collection`` keeps answering; swap it in with
        :meth:`finish_rebuild`. Leftovers of builds that never finished are dropped first."""
        current = self._alias_target()
        for name in self._collection_names():
            if name.startswith(f"{self.collection}--") and name != current:
                self.client.delete_collection(name)  # a killed build's half-made collection
        return ClientStore(self.client, f"{self.collection}--{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}",
                           self.location)

    def finish_rebuild(self, built: ClientStore) -> None:
        """Point ``collection`` (an alias) at the finished collection in one atomic step, then drop the old one.
        A collection of that name from before aliases were used is replaced (a moment without an answer)."""
        from qdrant_client import models

        previous = self._alias_target()
        ops: list[Any] = []
        if previous is not None:
            ops.append(models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=self.collection)))
        elif self.collection in self._collection_names():
            log.warning("collection '%s' at %s is replaced by an alias to '%s'", self.collection, self.location,
                        built.collection)
            self.client.delete_collection(self.collection)
        ops.append(models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=built.collection,
                                                                               alias_name=self.collection)))
        self.client.update_collection_aliases(change_aliases_operations=ops)
        if previous is not None and previous != built.collection:
            self.client.delete_collection(previous)

    def _alias_target(self) -> str | None:
        for alias in self.client.get_aliases().aliases:
            if alias.alias_name == self.collection:
                return str(alias.collection_name)
        return None

    def _collection_names(self) -> list[str]:
        return [c.name for c in self.client.get_collections().collections]

    def schema(self) -> StoreSchema | None:
        if not self.client.collection_exists(self.collection):
            return None
        meta = self.client.get_collection(self.collection).config.metadata or {}
        if "cinefuse" not in meta:
            raise StoreError(f"collection '{self.collection}' at {self.location} was not made by cinefuse; "
                             "choose another --collection")
        return StoreSchema.from_dict(meta["cinefuse"])

    def create(self, schema: StoreSchema) -> None:
        from qdrant_client import models

        current = self.schema()
        if current is not None:
            problems = current.conflicts(schema)
            if problems:
                raise StoreError(f"collection '{self.collection}' at {self.location} was built with other "
                                 "models: " + "; ".join(problems) + ". Rebuild it or use another --collection.")
            schema = _keep_collection(current, schema, f"collection '{self.collection}' at {self.location}")
            self.client.update_collection(self.collection, metadata={"cinefuse": schema.to_dict()})
            self._config = collection_config(schema)
            return
        cfg = collection_config(schema)
        schema = StoreSchema(schema.vectors, {**schema.info, "collection": cfg.to_dict()})
        quantization = (models.ScalarQuantization(scalar=models.ScalarQuantizationConfig(
            type=models.ScalarType.INT8, quantile=0.99, always_ram=True)) if cfg.quantized else None)
        hnsw = models.HnswConfigDiff(m=cfg.hnsw_m, ef_construct=cfg.hnsw_ef_construct)
        self.client.create_collection(
            self.collection,
            vectors_config={name: models.VectorParams(size=spec.dim,
                                                      distance=models.Distance(_CLIENT_DISTANCE[spec.distance]),
                                                      on_disk=cfg.on_disk_vectors, hnsw_config=hnsw,
                                                      quantization_config=quantization)
                            for name, spec in schema.vectors.items() if spec.kind == "dense"},
            sparse_vectors_config={name: models.SparseVectorParams(modifier=models.Modifier.IDF)
                                   for name, spec in schema.vectors.items() if spec.kind == "sparse"} or None,
            hnsw_config=hnsw, shard_number=cfg.shard_number, replication_factor=cfg.replication_factor,
            metadata={"cinefuse": schema.to_dict()})
        self._config = cfg
        kinds: dict[str, Any] = {
            "keyword": models.PayloadSchemaType.KEYWORD, "integer": models.PayloadSchemaType.INTEGER,
            "float": models.PayloadSchemaType.FLOAT,
            "text": models.TextIndexParams(type=models.TextIndexType.TEXT, tokenizer=models.TokenizerType.WORD,
                                           lowercase=True, phrase_matching=True)}
        with warnings.catch_warnings():  # qdrant-client's local mode warns that it ignores payload indexes
            warnings.simplefilter("ignore", UserWarning)
            for key, kind in cfg.payload_indexes:
                self.client.create_payload_index(self.collection, key, kinds[kind])

    def update_info(self, info: dict[str, Any]) -> None:
        """Add build information to the schema kept in the collection's metadata."""
        schema = self.schema() or _no_index(self.location)
        merged = StoreSchema(schema.vectors, {**schema.info, **info})
        self.client.update_collection(self.collection, metadata={"cinefuse": merged.to_dict()})

    def upsert(self, points: Sequence[StorePoint]) -> None:
        from qdrant_client import models

        if not points:
            return
        _check_dims(points, self.schema())
        self.client.upsert(self.collection, [
            models.PointStruct(id=p.id, vector={k: _client_vector(v) for k, v in p.vectors.items()},
                               payload=p.payload)
            for p in points])

    def set_vectors(self, name: str, vectors: dict[int, np.ndarray]) -> None:
        """Write one named vector for existing points."""
        from qdrant_client import models

        items = list(vectors.items())
        for start in range(0, len(items), 1000):
            self.client.update_vectors(self.collection, [
                models.PointVectors(id=pid, vector={name: np.asarray(v, dtype=np.float32).tolist()})
                for pid, v in items[start:start + 1000]])

    def search(self, query: SignalQuery, *, limit: int = 10, filters: Filters | None = None,
               with_payload: bool = True) -> list[Hit]:
        res = self.client.query_points(self.collection, query=_client_query(query), using=query.using,
                                       query_filter=_client_filter(filters), limit=limit,
                                       with_payload=with_payload, search_params=self._params())
        return [_hit(p, with_payload) for p in res.points]

    def search_batch(self, queries: Sequence[SignalQuery], *, limit: int = 10, filters: Filters | None = None,
                     with_payload: bool = False) -> list[list[Hit]]:
        from qdrant_client import models

        flt = _client_filter(filters)
        params = self._params()
        requests = [models.QueryRequest(query=_client_query(q), using=q.using, filter=flt, limit=limit,
                                        with_payload=with_payload, params=params) for q in queries]
        return [[_hit(p, with_payload) for p in res.points]
                for res in self.client.query_batch_points(self.collection, requests)]

    def fuse(self, queries: Sequence[SignalQuery], *, limit: int = 10, filters: Filters | None = None,
             prefetch_limit: int = 100, with_payload: bool = True, fusion: FusionMethod = "rrf",
             boosts: Sequence[Boost] = ()) -> list[Hit]:
        from qdrant_client import models

        if len(queries) == 1 and not boosts and queries[0].filters is None:
            return self.search(queries[0], limit=limit, filters=filters, with_payload=with_payload)
        flt = _client_filter(filters)
        params = self._params()
        sources = [models.Prefetch(query=_client_query(q), using=q.using, limit=prefetch_limit,
                                   filter=_client_filter((filters or Filters()).merged(q.filters)) if q.filters
                                   else flt, params=None if isinstance(q.vector, SparseVector) else params)
                   for q in queries]
        method: Any = (models.FusionQuery(fusion=models.Fusion.DBSF) if fusion == "dbsf"
                       else models.RrfQuery(rrf=models.Rrf(k=RRF_K, weights=[q.weight for q in queries])))
        if boosts:
            fused = sources if len(sources) == 1 else [models.Prefetch(prefetch=sources, query=method,
                                                                       limit=prefetch_limit, filter=flt)]
            res = self.client.query_points(self.collection, prefetch=fused, query=_client_formula(boosts),
                                           query_filter=flt, limit=limit, with_payload=with_payload)
        else:
            res = self.client.query_points(self.collection, prefetch=sources, query=method, query_filter=flt,
                                           limit=limit, with_payload=with_payload)
        return [_hit(p, with_payload) for p in res.points]

    def top(self, key: str, *, limit: int = 10, filters: Filters | None = None, with_payload: bool = True
            ) -> list[Hit]:
        """The movies passing ``filters`` with the largest ``key`` (an indexed number, e.g. ``rating_count``)."""
        from qdrant_client import models

        res = self.client.query_points(
            self.collection, query=models.OrderByQuery(order_by=models.OrderBy(key=key,
                                                                               direction=models.Direction.DESC)),
            query_filter=_client_filter(filters), limit=limit, with_payload=with_payload)
        return [_hit(p, with_payload) for p in res.points]

    def vectors(self, ids: Sequence[int], names: Sequence[str]) -> dict[int, dict[str, np.ndarray]]:
        records = self.client.retrieve(self.collection, list(ids), with_payload=False, with_vectors=list(names))
        return {int(r.id): {k: np.asarray(v, dtype=np.float32) for k, v in (r.vector or {}).items()}
                for r in records}

    def payloads(self, ids: Sequence[int] | None = None) -> dict[int, dict[str, Any]]:
        if ids is not None:
            return {int(r.id): r.payload or {} for r in
                    self.client.retrieve(self.collection, list(ids), with_payload=True)}
        out: dict[int, dict[str, Any]] = {}
        offset = None
        while True:
            records, offset = self.client.scroll(self.collection, limit=2048, offset=offset, with_payload=True)
            out.update({int(r.id): r.payload or {} for r in records})
            if offset is None:
                return out

    def count(self, filters: Filters | None = None) -> int:
        if not self.client.collection_exists(self.collection):
            return 0
        return int(self.client.count(self.collection, count_filter=_client_filter(filters), exact=True).count)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> ClientStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_CLIENT_DISTANCE = {"cosine": "Cosine", "dot": "Dot"}


def _client_vector(v: np.ndarray | SparseVector) -> Any:
    from qdrant_client import models

    if isinstance(v, SparseVector):
        return models.SparseVector(indices=list(v.indices), values=list(v.values))
    return np.asarray(v, dtype=np.float32).tolist()


def _client_query(q: SignalQuery) -> Any:
    from qdrant_client import models

    if q.vector is not None:
        return _client_vector(q.vector)
    return models.RecommendQuery(recommend=models.RecommendInput(
        positive=[np.asarray(v, dtype=np.float32).tolist() for v in q.positives],
        negative=[np.asarray(v, dtype=np.float32).tolist() for v in q.negatives],
        strategy=models.RecommendStrategy.BEST_SCORE))


class _ClientConditions:
    """Builds qdrant-client's filter models (the same tree :class:`_EdgeConditions` builds for Edge)."""

    def __init__(self) -> None:
        from qdrant_client import models

        self.m = models

    def any_of(self, key: str, values: Sequence[str | int]) -> Any:
        if PAYLOAD_INDEXES.get(key) == "text":
            return [self.m.FieldCondition(key=key, match=self.m.MatchPhrase(phrase=str(v))) for v in values]
        return [self.m.FieldCondition(key=key, match=self.m.MatchAny(any=list(values)))]  # type: ignore[arg-type]

    def range(self, key: str, lo: int | None, hi: int | None) -> Any:
        return self.m.FieldCondition(key=key, range=self.m.Range(gte=lo, lte=hi))

    def ids(self, ids: Sequence[int]) -> Any:
        return self.m.HasIdCondition(has_id=[int(i) for i in ids])

    def group(self, must: list[Any] | None = None, should: list[Any] | None = None,
              must_not: list[Any] | None = None) -> Any:
        return self.m.Filter(must=must or None, should=should or None, must_not=must_not or None)


def _client_filter(filters: Filters | None) -> Any:
    return _filter_tree(filters, _ClientConditions())


def _client_formula(boosts: Sequence[Boost]) -> Any:
    from qdrant_client import models

    make = _ClientConditions()
    terms: list[Any] = ["$score"]
    for b in boosts:
        conditions = [c for key in b.match.keys for c in make.any_of(key, b.match.values)]
        cond = conditions[0] if len(conditions) == 1 else make.group(should=conditions)
        terms.append(models.MultExpression(mult=[float(b.weight), cond]))
    return models.FormulaQuery(formula=models.SumExpression(sum=terms))


# ---------------------------------------------------------------------------------------------------------
# Safe rebuilds of a local index
# ---------------------------------------------------------------------------------------------------------


KEPT_ACROSS_REBUILDS = ("explainer",)
#: written into a folder while cinefuse builds or replaces an index there, so only cinefuse's own leftovers are
#: ever deleted
STAGING_MARKER = ".cinefuse-staging"


def staging_path(final: str | os.PathLike[str]) -> Path:
    """Where a local index is built before it replaces ``final``: a sibling folder, so the swap is a rename.

    Example:
        >>> staging_path("/data/index").name
        'index.building'
    """
    final = Path(final).expanduser()
    return final.with_name(final.name + ".building")


def old_path(final: str | os.PathLike[str]) -> Path:
    """Where the index being replaced waits while the new one is renamed into place.

    Example:
        >>> old_path("/data/index").name
        'index.old'
    """
    final = Path(final).expanduser()
    return final.with_name(final.name + ".old")


def promote(staged: str | os.PathLike[str], final: str | os.PathLike[str]) -> None:
    """Replace the index at ``final`` with the finished one at ``staged``: the old one survives any failure
    before the last rename, and a crash between the two renames leaves it at ``<final>.old``, where the next
    build or open finds it.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp()); (d / "x.building").mkdir(); promote(d / "x.building", d / "x")
        >>> (d / "x").is_dir()
        True
    """
    staged, final = Path(staged), Path(final).expanduser()
    old = old_path(final)
    if old.exists():
        shutil.rmtree(old)
    for kept in KEPT_ACROSS_REBUILDS:  # trained separately from the vectors; a rebuild must not lose it
        if (final / kept).exists() and not (staged / kept).exists():
            shutil.copytree(final / kept, staged / kept)
    if final.exists():
        (final / STAGING_MARKER).write_text("an index being replaced by a newer build; safe to delete\n")
        final.rename(old)
    staged.rename(final)
    if old.exists():
        shutil.rmtree(old)


def recover_interrupted_swap(final: str | os.PathLike[str]) -> bool:
    """Put the previous index back where a build was killed between its two renames (``final`` missing,
    ``<final>.old`` present); True when it did.

    Example:
        >>> recover_interrupted_swap("/nonexistent/index")
        False
    """
    final = Path(final).expanduser()
    old = old_path(final)
    if final.exists() or not (old / METADATA_FILE).is_file():
        return False
    (old / STAGING_MARKER).unlink(missing_ok=True)
    old.rename(final)
    log.warning("%s: a build was interrupted while swapping indexes; the previous index is back in place", final)
    return True


def iter_batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Consecutive slices of ``items`` of at most ``size``.

    Example:
        >>> [list(b) for b in iter_batches([1, 2, 3], 2)]
        [[1, 2], [3]]
    """
    for start in range(0, len(items), size):
        yield items[start:start + size]
