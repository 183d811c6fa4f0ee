"""Poster vectors from open_clip, plus text vectors in the same space for text-to-poster search.

:func:`load_image_encoder` picks the weights from one argument: a pretrained tag (downloaded by open_clip
where a network exists), a local checkpoint file, or ``None`` for an untrained model (tests only). Where a
tag's weights cannot be had it logs one warning and returns ``None``, so the poster signal is switched off
rather than filled with random vectors.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from encoders.base import ImageInput, l2_normalize, pick_device
from encoders.errors import ModelNotAvailable

if TYPE_CHECKING:  # torch and open_clip load on first use, so that importing cinefuse stays fast
    import torch

logger = logging.getLogger(__name__)

DEFAULT_IMAGE_MODEL = "ViT-B-32"
DEFAULT_IMAGE_PRETRAINED = "laion2b_s34b_b79k"
UNTRAINED_SEED = 0
"""The torch seed an untrained model is initialised with, so that it is the same model every time."""
#: threads that decode and resize posters one batch ahead of the model (1: in line, as before)
DECODE_THREADS = 8

_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt", ".npz")


class OpenClipEncoder:
    """An :class:`~encoders.base.ImageEncoder` over an open_clip model (built by :func:`load_image_encoder`).

    Images are opened with PIL as RGB, preprocessed as the model expects, and encoded in batches (fp16 on
    CUDA); texts go through the model's own tokenizer. Outputs are float32 and L2-normalised.

    Example:
        >>> encoder = load_image_encoder("ViT-B-32", pretrained=None, allow_untrained=True, device="cpu")
        >>> encoder.name, encoder.dim
        ('open_clip/ViT-B-32/untrained-seed0', 512)
    """

    def __init__(self, model: torch.nn.Module, preprocess: Callable[[Image.Image], torch.Tensor],
                 tokenizer: Callable[[list[str]], torch.Tensor], *, name: str, architecture: str,
                 device: str) -> None:
        # Typed Any: open_clip's CLIP, CustomTextCLIP and CoCa share encode_image/encode_text but no base.
        self.model: Any = model.eval()
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.name = name
        self.architecture = architecture
        self.device = device
        self.dim = _embedding_dimension(architecture, model)
        import torch

        # open_clip's fp16 keeps a few tensors (embeddings, norms) in fp32, so the first parameter's dtype is not
        # the convolutions': feed pixels in the half precision whichever weights are in it
        dtypes = {p.dtype for p in model.parameters()}
        self._dtype = next((d for d in (torch.float16, torch.bfloat16) if d in dtypes), torch.float32)

    def __repr__(self) -> str:
        return f"OpenClipEncoder(name={self.name!r}, dim={self.dim}, device={self.device!r})"

    def encode_images(self, images: Sequence[ImageInput], batch_size: int = 32,
                      show_progress: bool = False) -> np.ndarray:
        """Encode images (paths or PIL images) to L2-normalised float32 vectors, shape ``(n, dim)``.

        An image that cannot be opened or decoded gives a zero row and a logged warning naming it, so one
        bad file never stops a whole build.

        Example:
            >>> encoder = load_image_encoder(pretrained=None, allow_untrained=True, device="cpu")
            >>> encoder.encode_images([Image.new("RGB", (182, 268), "red")]).shape
            (1, 512)
        """
        import torch

        if isinstance(images, str | Path | Image.Image):
            raise TypeError("encode_images() takes a sequence of images; wrap a single image in a list")
        vectors = np.zeros((len(images), self.dim), dtype=np.float32)
        # decoding and resizing run in threads (PIL and torchvision release the GIL), one batch ahead of the
        # model, so a GPU is not left waiting on JPEG decoding; two batches of pixels are held at most
        with (tqdm(total=len(images), desc="posters", unit="img", disable=not show_progress) as bar,
              ThreadPoolExecutor(max_workers=max(1, min(DECODE_THREADS, os.cpu_count() or 1))) as pool):
            pending = [pool.submit(self._pixels, image) for image in images[:batch_size]]
            for start in range(0, len(images), batch_size):
                decoded = [future.result() for future in pending]
                ahead = images[start + batch_size:start + 2 * batch_size]
                pending = [pool.submit(self._pixels, image) for image in ahead]
                rows = [start + offset for offset, tensor in enumerate(decoded) if tensor is not None]
                pixels = [tensor for tensor in decoded if tensor is not None]
                if pixels:
                    stacked = torch.stack(pixels).to(self.device, dtype=self._dtype)
                    with torch.inference_mode():
                        features = self.model.encode_image(stacked, normalize=True)
                    vectors[rows] = features.float().cpu().numpy()
                bar.update(len(decoded))
        return l2_normalize(vectors)

    def encode_text(self, texts: Sequence[str], batch_size: int = 64,
                    show_progress: bool = False) -> np.ndarray:
        """Encode texts into the image space (for text-to-poster search), shape ``(len(texts), dim)``.

        Example:
            >>> encoder = load_image_encoder(pretrained=None, allow_untrained=True, device="cpu")
            >>> encoder.encode_text(["a neon-lit city at night"]).shape
            (1, 512)
        """
        import torch

        if isinstance(texts, str):
            raise TypeError("encode_text() takes a sequence of texts; wrap a single text in a list")
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        with tqdm(total=len(texts), desc="texts", unit="text", disable=not show_progress) as bar:
            for start in range(0, len(texts), batch_size):
                batch = list(texts[start:start + batch_size])
                tokens = self.tokenizer(batch).to(self.device)
                with torch.inference_mode():
                    features = self.model.encode_text(tokens, normalize=True)
                vectors[start:start + len(batch)] = features.float().cpu().numpy()
                bar.update(len(batch))
        return l2_normalize(vectors)

    def _pixels(self, image: ImageInput) -> torch.Tensor | None:
        label = "<PIL image>" if isinstance(image, Image.Image) else str(image)
        try:
            if isinstance(image, Image.Image):
                rgb = image if image.mode == "RGB" else image.convert("RGB")
            else:
                with Image.open(image) as opened:
                    rgb = opened.convert("RGB")  # decodes now, so a truncated file fails here
            return self.preprocess(rgb)
        # PIL raises many types on bad files (OSError, SyntaxError, ValueError, DecompressionBombError...);
        # none of them may stop a build, so every failure becomes a zero row and a warning.
        except Exception as exc:
            logger.warning("poster %s could not be read (%s: %s); its vector is all zeros",
                           label, type(exc).__name__, exc)
            return None


def load_image_encoder(model: str = DEFAULT_IMAGE_MODEL, pretrained: str | None = DEFAULT_IMAGE_PRETRAINED,
                       *, allow_untrained: bool = False, device: str = "auto",
                       cache_dir: str | os.PathLike[str] | None = None) -> OpenClipEncoder | None:
    """Build the poster encoder, or return ``None`` (poster signal off) where its weights cannot be had.

    ``pretrained`` is an open_clip tag for ``model`` (downloaded into ``cache_dir`` where a network
    exists), a path to a checkpoint file, or ``None``. With ``None`` and ``allow_untrained=True`` the model
    is untrained but deterministic (seeded with :data:`UNTRAINED_SEED`; its name says so): for tests only.
    With ``None`` otherwise, posters are simply off. A tag whose download fails logs one warning and gives
    ``None``. An unknown architecture or tag, or a missing or unloadable checkpoint file, raises
    :class:`~encoders.errors.ModelNotAvailable`.

    Example:
        >>> encoder = load_image_encoder("ViT-B-32", "laion2b_s34b_b79k")  # doctest: +SKIP
        >>> encoder.name if encoder else "poster signal off"  # doctest: +SKIP
        'open_clip/ViT-B-32/laion2b_s34b_b79k'
    """
    import open_clip
    import torch

    if model not in open_clip.list_models():
        raise ModelNotAvailable(f"image model {model!r} is not an open_clip architecture; "
                                f"choose one of open_clip.list_models(), e.g. {DEFAULT_IMAGE_MODEL!r}")
    if pretrained is None and not allow_untrained:
        logger.info("poster signal off: image_pretrained is None (and untrained models are not allowed)")
        return None
    torch_device = pick_device(device)
    options: dict[str, Any] = {"device": torch_device,
                               "precision": "fp16" if torch_device.startswith("cuda") else "fp32"}

    cache = os.fspath(cache_dir) if cache_dir is not None else None

    if pretrained is None:
        # Fork the CPU generator so seeding here leaves the caller's random stream alone.
        with torch.random.fork_rng(devices=[]):
            torch.random.default_generator.manual_seed(UNTRAINED_SEED)
            clip, preprocess = _create(open_clip, model, None, pretrained_text=False, **options)
        tokenizer = open_clip.get_tokenizer(model, cache_dir=cache)
        name = f"open_clip/{model}/untrained-seed{UNTRAINED_SEED}"
        logger.warning("image encoder %s is UNTRAINED: its poster vectors carry no meaning (tests only)",
                       name)
    elif open_clip.get_pretrained_cfg(model, pretrained):
        try:
            with _offline_unless_hub_reachable():
                clip, preprocess = _create(open_clip, model, pretrained, cache_dir=cache, **options)
                tokenizer = open_clip.get_tokenizer(model, cache_dir=cache)
        except Exception as exc:
            _warn_switched_off(model, pretrained, exc, cache)
            return None
        name = f"open_clip/{model}/{pretrained}"
    else:
        checkpoint = Path(pretrained).expanduser()
        if not checkpoint.is_file():
            looks_like_path = os.sep in pretrained or "/" in pretrained or pretrained.endswith(
                _CHECKPOINT_SUFFIXES)
            if looks_like_path:
                raise ModelNotAvailable(f"image checkpoint {checkpoint} not found; give an existing file or "
                                        f"an open_clip tag for {model}")
            raise ModelNotAvailable(
                f"{pretrained!r} is neither an open_clip pretrained tag for {model} nor a checkpoint file; "
                f"tags for {model}: {open_clip.list_pretrained_tags_by_model(model)}")
        try:
            clip, preprocess = _create(open_clip, model, str(checkpoint), **options)
            tokenizer = open_clip.get_tokenizer(model, cache_dir=cache)
        except Exception as exc:
            raise ModelNotAvailable(f"image checkpoint {checkpoint} could not be loaded as {model} weights: "
                                    f"{type(exc).__name__}: {exc}") from exc
        name = f"open_clip/{model}/sha256-{_file_sha256(checkpoint)[:16]}"

    encoder = OpenClipEncoder(clip, preprocess, tokenizer, name=name, architecture=model, device=torch_device)
    logger.info("image encoder %s on %s: dim %d", encoder.name, torch_device, encoder.dim)
    return encoder


def save_checkpoint(encoder: OpenClipEncoder, path: str | os.PathLike[str]) -> Path:
    """Write the encoder's weights (float32, on CPU) where ``load_image_encoder(model, pretrained=path)``
    loads them back; a ``.safetensors`` suffix writes safetensors, any other a torch state_dict.

    Example:
        >>> encoder = load_image_encoder(pretrained=None, allow_untrained=True, device="cpu")
        >>> path = save_checkpoint(encoder, "/tmp/vit-b-32.pt")  # doctest: +SKIP
        >>> load_image_encoder("ViT-B-32", pretrained=str(path)).name  # doctest: +SKIP
        'open_clip/ViT-B-32/sha256-...'
    """
    import torch

    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    state = {key: (value.detach().to("cpu", torch.float32) if value.is_floating_point() else value.detach().cpu())
             for key, value in encoder.model.state_dict().items()}
    partial = target.with_name(target.name + ".partial")
    if target.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({key: value.contiguous().clone() for key, value in state.items()}, str(partial))
    else:
        torch.save(state, partial)
    # Renamed into place only once complete, so an interrupted save never leaves a loadable half-file.
    os.replace(partial, target)
    logger.info("saved %s weights to %s", encoder.name, target)
    return target


HUB_HOST = "huggingface.co"


def hub_reachable(host: str = HUB_HOST, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the weights' host opens within ``timeout`` seconds.

    Example:
        >>> hub_reachable("127.0.0.1", timeout=0.5) in (True, False)
        True
    """
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


@contextmanager
def _offline_unless_hub_reachable() -> Iterator[None]:
    # Without this, huggingface_hub retries for about a minute on a closed network before giving up;
    # offline mode still loads weights already in the cache and fails at once otherwise.
    from huggingface_hub import constants

    saved = constants.HF_HUB_OFFLINE
    if not saved and not hub_reachable():
        logger.info("%s is unreachable: looking for cached CLIP weights only", HUB_HOST)
        constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = saved


def _warn_switched_off(model: str, pretrained: str, exc: Exception, cache_dir: str | None) -> None:
    detail = " ".join(str(exc).split()) or type(exc).__name__
    detail = detail if len(detail) <= 240 else detail[:237] + "..."
    logger.warning(
        "poster signal switched off: the open_clip weights %s/%s could not be loaded (%s). To fix: run once "
        "with internet access so open_clip downloads them into its cache (cache_dir=%s, else the Hugging Face "
        "cache), or download the checkpoint on another machine and set image_pretrained "
        "(CINEFUSE_IMAGE_PRETRAINED) to its file path.", model, pretrained, detail, cache_dir)


def _create(open_clip: Any, model: str, pretrained: str | None, **options: Any) -> tuple[torch.nn.Module, Any]:
    clip, _, preprocess = open_clip.create_model_and_transforms(model, pretrained=pretrained, **options)
    return clip, preprocess


def _embedding_dimension(architecture: str, model: torch.nn.Module) -> int:
    import open_clip

    config = open_clip.get_model_config(architecture) or {}
    if "embed_dim" in config:
        return int(config["embed_dim"])
    visual: Any = model.visual
    return int(visual.output_dim)


def _file_sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
