"""The encoders on a CUDA device: fp16 there, and the same vectors as on the CPU. Marked ``gpu``: `make test`
leaves them out; run them with ``pytest -m gpu tests/test_gpu.py`` on a machine with a GPU
(``CINEFUSE_TEXT_MODEL`` may name a local sentence-transformers folder instead of the packaged MiniLM)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from encoders import load_image_encoder, load_text_encoder

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")]

TEXTS = ["A veteran thief assembles a crew to rob a guarded bank vault while a detective closes in.",
         "Two toys compete for their owner's love, get lost, and must find their way home together.",
         "A crew on a deep-space freighter answers a distress call and brings something deadly aboard.",
         "A young lion prince flees his kingdom after his father's death and must return to claim it."]


def _text_model() -> str:
    return os.environ.get("CINEFUSE_TEXT_MODEL", "all-MiniLM-L6-v2")


def test_text_encoder_runs_in_half_precision_on_cuda_and_matches_the_cpu() -> None:
    gpu = load_text_encoder(_text_model(), device="cuda")
    cpu = load_text_encoder(_text_model(), device="cpu")
    assert gpu.device.startswith("cuda")
    assert {str(p.dtype) for p in gpu.model.parameters()} == {"torch.float16"}
    on_gpu, on_cpu = gpu.encode(TEXTS), cpu.encode(TEXTS)
    assert on_gpu.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(on_gpu, axis=1), 1.0, atol=1e-5)
    assert (on_gpu * on_cpu).sum(axis=1).min() > 0.999
    # the GPU keeps the meaning: the heist text's nearest other text is the same on both devices
    assert np.argsort(-(on_gpu @ on_gpu.T), axis=1)[:, 1].tolist() == np.argsort(
        -(on_cpu @ on_cpu.T), axis=1)[:, 1].tolist()


def test_documents_pool_alike_on_cuda_and_cpu() -> None:
    docs = [TEXTS[:2], [" ".join(TEXTS) * 40]]  # the second is chunked
    gpu = load_text_encoder(_text_model(), device="cuda").encode_documents(docs)
    cpu = load_text_encoder(_text_model(), device="cpu").encode_documents(docs)
    assert (gpu * cpu).sum(axis=1).min() > 0.999


def test_image_encoder_on_cuda_matches_the_cpu() -> None:
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (300, 200, 3), dtype=np.uint8)) for _ in range(4)]
    gpu = load_image_encoder("ViT-B-32", None, allow_untrained=True, device="cuda")
    cpu = load_image_encoder("ViT-B-32", None, allow_untrained=True, device="cpu")
    assert gpu is not None and cpu is not None
    on_gpu, on_cpu = gpu.encode_images(images), cpu.encode_images(images)
    assert on_gpu.shape == on_cpu.shape == (4, gpu.dim)
    assert (on_gpu * on_cpu).sum(axis=1).min() > 0.99
