"""One Qdrant collection with a named vector per signal, behind one small interface.

`open_store(location)` picks the backend: a local path (or ``":memory:"``) opens Qdrant Edge in-process; an
``http(s)://`` URL opens a Qdrant server through qdrant-client; ``backend="client"`` with a path opens
qdrant-client's local mode (a second embedded backend, used by the congruence tests). Callers never branch.
"""

from __future__ import annotations

import json
import logging
import os
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
    """One named vector: its size and the model that made it (recorded so vectors are never mixed)."""

    dim: int
    model: str
    distance: Literal["cosine", "dot"] = "cosine"  # collaborative factors score by dot product


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
    * ``payload_indexes``: the payload fields filters use, indexed so a filtered query stays fast: ``genres``
      (keyword), ``year`` (integer), ``popularity`` (float).
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
    payload_indexes: tuple[tuple[str, str], ...] = (("genres", "keyword"), ("year", "integer"), ("popularity", "float"))

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
    return "nothing" if spec is None else f"{spec.dim}-d from model '{spec.model}'"


@dataclass
class StorePoint:
    """A movie as stored: its movieId, one vector per signal it has, and its payload."""

    id: int
    vectors: dict[str, np.ndarray]
    payload: dict[str, Any]


@dataclass
class Hit:
    """One scored result."""

    id: int
    score: float
    payload: dict[str, Any] | None = None


@dataclass
class Filters:
    """Payload filters every backend understands.

    Example:
        >>> Filters(genres=["Animation"], year_min=1990).is_empty()
        False
    """

    genres: list[str] = field(default_factory=list)  # any of these
    exclude_genres: list[str] = field(default_factory=list)
    year_min: int | None = None
    year_max: int | None = None
    exclude_ids: list[int] = field(default_factory=list)
    only_ids: list[int] | None = None

    def is_empty(self) -> bool:
        return not (self.genres or self.exclude_genres or self.exclude_ids or self.only_ids is not None
                    or self.year_min is not None or self.year_max is not None)


@dataclass
class SignalQuery:
    """A query on one named vector: a vector, or positive and negative examples (recommend, best score).

    Example:
        >>> SignalQuery("overview", vector=np.ones(3, dtype=np.float32)).using
        'overview'
    """

    using: str
    vector: np.ndarray | None = None
    positives: list[np.ndarray] = field(default_factory=list)
    negatives: list[np.ndarray] = field(default_factory=list)
    weight: float = 1.0

    def __post_init__(self) -> None:
        if self.vector is None and not self.positives:
            raise ValueError(f"SignalQuery on '{self.using}' needs a vector or at least one positive example")


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
             prefetch_limit: int = 100, with_payload: bool = True) -> list[Hit]: ...
    def vectors(self, ids: Sequence[int], names: Sequence[str]) -> dict[int, dict[str, np.ndarray]]: ...
    def payloads(self, ids: Sequence[int] | None = None) -> dict[int, dict[str, Any]]: ...
    def count(self) -> int: ...
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
            EdgeVectorParams,
            HnswIndexConfig,
            Memory,
            PayloadSchemaType,
            ScalarQuantizationConfig,
            ScalarType,
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
                     for name, spec in schema.vectors.items()},
            hnsw_config=HnswIndexConfig(m=cfg.hnsw_m, ef_construct=cfg.hnsw_ef_construct, full_scan_threshold=10_000))
        self._shard = EdgeShard.create(str(self.path), config)
        schema = StoreSchema(schema.vectors, {**schema.info, "collection": cfg.to_dict()})
        for key, kind in cfg.payload_indexes:
            edge_kind = {"keyword": PayloadSchemaType.Keyword, "integer": PayloadSchemaType.Integer,
                         "float": PayloadSchemaType.Float}[kind]
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
            Point(p.id, {k: np.asarray(v, dtype=np.float32).tolist() for k, v in p.vectors.items()}, p.payload)
            for p in points]))

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
             prefetch_limit: int = 100, with_payload: bool = True) -> list[Hit]:
        from qdrant_edge import Fusion, Prefetch, QueryRequest

        if len(queries) == 1:
            return self.search(queries[0], limit=limit, filters=filters, with_payload=with_payload)
        flt = _edge_filter(filters)
        request = QueryRequest(
            limit=limit,
            prefetches=[Prefetch(limit=prefetch_limit, query=_edge_query(q), filter=flt, params=self._params())
                        for q in queries],
            query=Fusion.Rrf(k=RRF_K, weights=[q.weight for q in queries]),  # type: ignore[arg-type]  # Edge's stub omits Rrf
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

    def count(self) -> int:
        from qdrant_edge import CountRequest

        return 0 if self._shard is None else int(self._shard.count(CountRequest(exact=True)))

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


PAYLOAD_INDEXES = dict(CollectionConfig().payload_indexes)


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


def _edge_query(q: SignalQuery) -> Any:
    from qdrant_edge import Query, RecommendQuery

    if q.vector is not None:
        return Query.Nearest(np.asarray(q.vector, dtype=np.float32).tolist(), using=q.using)
    return Query.RecommendBestScore(
        RecommendQuery(positives=[np.asarray(v, dtype=np.float32).tolist() for v in q.positives],
                       negatives=[np.asarray(v, dtype=np.float32).tolist() for v in q.negatives]),
        using=q.using)


def _edge_filter(filters: Filters | None) -> Any:
    from qdrant_edge import FieldCondition, Filter, HasIdCondition, MatchAny, RangeFloat

    if filters is None or filters.is_empty():
        return None
    must: list[Any] = []
    must_not: list[Any] = []
    if filters.genres:
        must.append(FieldCondition(key="genres", match=MatchAny(any=list(filters.genres))))
    if filters.year_min is not None or filters.year_max is not None:
        must.append(FieldCondition(key="year", range=RangeFloat(
            gte=None if filters.year_min is None else float(filters.year_min),
            lte=None if filters.year_max is None else float(filters.year_max))))
    if filters.only_ids is not None:
        must.append(HasIdCondition(point_ids={int(i) for i in filters.only_ids}))
    if filters.exclude_genres:
        must_not.append(FieldCondition(key="genres", match=MatchAny(any=list(filters.exclude_genres))))
    if filters.exclude_ids:
        must_not.append(HasIdCondition(point_ids={int(i) for i in filters.exclude_ids}))
    return Filter(must=must or None, must_not=must_not or None)


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
                            for name, spec in schema.vectors.items()},
            hnsw_config=hnsw, shard_number=cfg.shard_number, replication_factor=cfg.replication_factor,
            metadata={"cinefuse": schema.to_dict()})
        self._config = cfg
        kinds = {"keyword": models.PayloadSchemaType.KEYWORD, "integer": models.PayloadSchemaType.INTEGER,
                 "float": models.PayloadSchemaType.FLOAT}
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
            models.PointStruct(id=p.id, vector={k: np.asarray(v, dtype=np.float32).tolist()
                                                for k, v in p.vectors.items()}, payload=p.payload)
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
             prefetch_limit: int = 100, with_payload: bool = True) -> list[Hit]:
        from qdrant_client import models

        if len(queries) == 1:
            return self.search(queries[0], limit=limit, filters=filters, with_payload=with_payload)
        flt = _client_filter(filters)
        res = self.client.query_points(
            self.collection,
            prefetch=[models.Prefetch(query=_client_query(q), using=q.using, filter=flt, limit=prefetch_limit,
                                      params=self._params()) for q in queries],
            query=models.RrfQuery(rrf=models.Rrf(k=RRF_K, weights=[q.weight for q in queries])),
            limit=limit, with_payload=with_payload)
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

    def count(self) -> int:
        if not self.client.collection_exists(self.collection):
            return 0
        return int(self.client.count(self.collection, exact=True).count)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> ClientStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_CLIENT_DISTANCE = {"cosine": "Cosine", "dot": "Dot"}


def _client_query(q: SignalQuery) -> Any:
    from qdrant_client import models

    if q.vector is not None:
        return np.asarray(q.vector, dtype=np.float32).tolist()
    return models.RecommendQuery(recommend=models.RecommendInput(
        positive=[np.asarray(v, dtype=np.float32).tolist() for v in q.positives],
        negative=[np.asarray(v, dtype=np.float32).tolist() for v in q.negatives],
        strategy=models.RecommendStrategy.BEST_SCORE))


def _client_filter(filters: Filters | None) -> Any:
    from qdrant_client import models

    if filters is None or filters.is_empty():
        return None
    must: list[Any] = []
    must_not: list[Any] = []
    if filters.genres:
        must.append(models.FieldCondition(key="genres", match=models.MatchAny(any=list(filters.genres))))
    if filters.year_min is not None or filters.year_max is not None:
        must.append(models.FieldCondition(key="year", range=models.Range(gte=filters.year_min,
                                                                         lte=filters.year_max)))
    if filters.only_ids is not None:
        must.append(models.HasIdCondition(has_id=[int(i) for i in filters.only_ids]))
    if filters.exclude_genres:
        must_not.append(models.FieldCondition(key="genres",
                                              match=models.MatchAny(any=list(filters.exclude_genres))))
    if filters.exclude_ids:
        must_not.append(models.HasIdCondition(has_id=[int(i) for i in filters.exclude_ids]))
    return models.Filter(must=must or None, must_not=must_not or None)


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
