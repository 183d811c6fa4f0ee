"""Turn overviews and reviews (sentence-transformers) and posters (open_clip) into L2-normalised vectors."""

from encoders.base import ImageEncoder, ImageInput, TextEncoder, l2_normalize, pick_device
from encoders.image import (
    DEFAULT_IMAGE_MODEL,
    DEFAULT_IMAGE_PRETRAINED,
    UNTRAINED_SEED,
    OpenClipEncoder,
    load_image_encoder,
    save_checkpoint,
)
from encoders.text import DEFAULT_TEXT_MODEL, SentenceTransformerEncoder, load_text_encoder

__all__ = [
    "DEFAULT_IMAGE_MODEL",
    "DEFAULT_IMAGE_PRETRAINED",
    "DEFAULT_TEXT_MODEL",
    "UNTRAINED_SEED",
    "ImageEncoder",
    "ImageInput",
    "OpenClipEncoder",
    "SentenceTransformerEncoder",
    "TextEncoder",
    "l2_normalize",
    "load_image_encoder",
    "load_text_encoder",
    "pick_device",
    "save_checkpoint",
]
