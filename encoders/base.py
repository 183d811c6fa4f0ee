"""The two encoder interfaces, and the small pure helpers every encoder shares.

A text encoder turns overviews and reviews into vectors; an image encoder turns posters (and, for
text-to-poster search, short queries) into vectors in its own space. Both return float32 arrays of shape
``(n, dim)`` whose rows are L2-normalised (a row that could not be encoded is all zeros), and both carry a
``name`` that identifies model *and* weights, so an index never mixes vectors from different models.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image

from encoders.errors import SettingsError

logger = logging.getLogger(__name__)

ImageInput = str | Path | Image.Image
"""A poster: a path to an image file, or an already opened PIL image."""


@runtime_checkable
class TextEncoder(Protocol):
    """Turns texts into L2-normalised float32 vectors.

    Example:
        >>> from encoders import load_text_encoder
        >>> encoder: TextEncoder = load_text_encoder()
        >>> encoder.encode(["A crew plans a bank heist."]).shape
        (1, 384)
    """

    name: str
    """A stable id of model and weights, recorded in the index."""
    dim: int
    """The length of every vector this encoder returns."""

    def encode(self, texts: Sequence[str], batch_size: int = 64,
               show_progress: bool = False) -> np.ndarray:
        """Encode short texts (one vector each, truncated to the model's maximum length)."""
        ...

    def encode_documents(self, docs: Sequence[Sequence[str]], batch_size: int = 64,
                         show_progress: bool = False, max_chunks_per_doc: int | None = None) -> np.ndarray:
        """Encode documents made of several long texts (one pooled vector per document)."""
        ...


@runtime_checkable
class ImageEncoder(Protocol):
    """Turns images, and texts into the same space, into L2-normalised float32 vectors.

    Example:
        >>> from encoders import load_image_encoder
        >>> encoder = load_image_encoder("ViT-B-32", pretrained=None, allow_untrained=True)
        >>> encoder.encode_images(["poster.jpg"]).shape  # doctest: +SKIP
        (1, 512)
    """

    name: str
    """A stable id of model and weights, recorded in the index."""
    dim: int
    """The length of every vector this encoder returns."""

    def encode_images(self, images: Sequence[ImageInput], batch_size: int = 32,
                      show_progress: bool = False) -> np.ndarray:
        """Encode images; an image that cannot be read gives a zero row."""
        ...

    def encode_text(self, texts: Sequence[str], batch_size: int = 64,
                    show_progress: bool = False) -> np.ndarray:
        """Encode texts into the image space, for text-to-poster search."""
        ...


def pick_device(preference: str = "auto") -> str:
    """Choose the torch device: with ``"auto"``, CUDA, then Apple MPS, then CPU.

    An explicit preference (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``) is returned as given, after
    checking that this machine has it.

    Example:
        >>> pick_device("cpu")
        'cpu'
        >>> pick_device() in {"cuda", "mps", "cpu"}
        True
    """
    import torch  # here, not at module level, so that importing cinefuse stays fast

    wanted = preference.strip().lower()
    if wanted == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if wanted.startswith("cuda") and not torch.cuda.is_available():
        raise SettingsError(f"device {preference!r} was asked for but torch sees no CUDA device; "
                            "use --device auto or cpu (CINEFUSE_DEVICE)")
    if wanted == "mps" and not torch.backends.mps.is_available():
        raise SettingsError(f"device {preference!r} was asked for but torch sees no MPS device; "
                            "use --device auto or cpu (CINEFUSE_DEVICE)")
    if wanted != "cpu" and not wanted.startswith(("cuda", "mps")):
        raise SettingsError(f"unknown device {preference!r}; expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
    return wanted


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Scale each row (the last axis) to unit L2 norm, as float32; rows of zeros stay zeros.

    Example:
        >>> l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
        array([[0.6, 0.8],
               [0. , 0. ]], dtype=float32)
    """
    values = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(values, axis=-1, keepdims=True)
    return values / np.where(norms > 0, norms, np.float32(1.0))
