"""The sparse (BM25) side of hybrid retrieval: one text document per movie, and the encoder that turns documents
and queries into term-weight vectors. Qdrant Edge's own BM25 model tokenizes (English stop words, Snowball stems)
and weighs term frequencies; the store's ``idf`` modifier supplies the inverse document frequencies, so
``query · document`` is the movie's BM25 score.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from index.errors import StoreError
from index.store import SparseVector

#: the named sparse vector every index holds
SPARSE_SIGNAL = "text"
BM25_PREFIX = "qdrant-edge-bm25"
#: what a movie's document is made of, in order: the words a person might search for
DOCUMENT_FIELDS = ("title", "genres", "tagline", "overview", "keywords", "tags", "directors", "cast", "writers",
                   "companies", "collection")


class SparseEncoder(Protocol):
    """Turns text into sparse term-weight vectors; ``name`` says which tokenizer, so queries match documents."""

    name: str

    def embed_documents(self, texts: Sequence[str]) -> list[SparseVector]: ...
    def embed_query(self, text: str) -> SparseVector: ...
    def terms(self, text: str) -> frozenset[int]: ...


def movie_document(fields: Mapping[str, Any]) -> str:
    """A movie's searchable text: title, genres, tagline, overview, keywords, user tags, people, companies and
    franchise, from a payload or a ``Movie``'s attributes.

    Example:
        >>> movie_document({"title": "Heat", "genres": ["Crime"], "directors": ["Michael Mann"]})
        'Heat. Crime. Michael Mann.'
    """
    parts: list[str] = []
    for name in DOCUMENT_FIELDS:
        value = fields.get(name)
        if isinstance(value, str) and value.strip():
            parts.append(value.strip().rstrip("."))
        elif isinstance(value, list | tuple) and value:
            parts.append(", ".join(str(v).strip() for v in value if str(v).strip()))
    return ". ".join(p for p in parts if p) + ("." if parts else "")


class Bm25Encoder:
    """BM25 term weights from Qdrant Edge's built-in model (``qdrant_edge.Bm25``): no server, no download.

    ``avg_len`` is the corpus' mean document length in tokens (see :func:`average_length`); queries weigh each
    distinct token 1, so with the store's ``idf`` modifier a query's score is the textbook BM25.

    Example:
        >>> enc = Bm25Encoder(avg_len=10)
        >>> bool(set(enc.embed_query("heists").indices) & set(enc.embed_documents(["a bank heist"])[0].indices))
        True
    """

    def __init__(self, avg_len: float = 256.0, *, language: str = "english", k: float = 1.2, b: float = 0.75
                 ) -> None:
        from qdrant_edge import Bm25, Bm25Config

        if avg_len <= 0:
            raise StoreError(f"the BM25 average document length must be positive, got {avg_len}")
        self.language, self.k, self.b, self.avg_len = language, k, b, float(avg_len)
        self.name = f"{BM25_PREFIX}:{language}"
        self._model = Bm25(Bm25Config(k=k, b=b, avg_len=self.avg_len, language=language, ascii_folding=True))

    def embed_documents(self, texts: Sequence[str]) -> list[SparseVector]:
        return [_sparse(self._model.embed_document(t)) for t in texts]

    def embed_query(self, text: str) -> SparseVector:
        return _sparse(self._model.embed_query(text))

    def terms(self, text: str) -> frozenset[int]:
        """The term ids of ``text`` (stemmed, without stop words): what two texts must share to match.

        Example:
            >>> enc = Bm25Encoder()
            >>> enc.terms("the heists") == enc.terms("heist")
            True
        """
        return frozenset(self._model.embed_query(text).indices)

    def config(self) -> dict[str, Any]:
        """What rebuilds this encoder (saved in the index)."""
        return {"model": self.name, "language": self.language, "k": self.k, "b": self.b, "avg_len": self.avg_len}


def average_length(texts: Iterable[str], language: str = "english") -> float:
    """The mean length in tokens, as the BM25 model counts them (stop words dropped), of ``texts``.

    A document's length is read back from the model itself: with ``k = b = avg_len = 1`` a term seen once weighs
    ``2 / (1 + length)``, and the lightest term of a document is one seen once.

    Example:
        >>> average_length(["a bank heist", "the heist goes wrong badly"])  # 2 and 4 tokens
        3.0
    """
    from qdrant_edge import Bm25, Bm25Config

    probe = Bm25(Bm25Config(k=1.0, b=1.0, avg_len=1.0, language=language, ascii_folding=True))
    lengths = []
    for text in texts:
        values = probe.embed_document(text).values
        if values:
            lengths.append(2.0 / min(values) - 1.0)
    return round(sum(lengths) / len(lengths), 3) if lengths else 1.0


def load_sparse_encoder(config: Mapping[str, Any] | None) -> Bm25Encoder:
    """The encoder an index was built with, from the config it saved (``info["sparse"]``).

    Example:
        >>> load_sparse_encoder({"model": "qdrant-edge-bm25:english", "avg_len": 80}).avg_len
        80.0
    """
    if not config:
        raise StoreError("this index has no sparse (BM25) vectors: rebuild it with this version of cinefuse "
                         "(cinefuse build --data DIR) to search by keywords, people and companies")
    model = str(config.get("model", ""))
    if not model.startswith(BM25_PREFIX):
        raise StoreError(f"this index's sparse vectors come from '{model}', which this version of cinefuse cannot "
                         "encode queries for; rebuild the index")
    return Bm25Encoder(float(config.get("avg_len", 256.0)), language=str(config.get("language", "english")),
                       k=float(config.get("k", 1.2)), b=float(config.get("b", 0.75)))


def _sparse(vector: Any) -> SparseVector:
    return SparseVector(tuple(int(i) for i in vector.indices), tuple(float(v) for v in vector.values))
