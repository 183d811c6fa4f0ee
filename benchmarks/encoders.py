"""Encoder throughput on the real data: overviews/s, review documents/s and posters/s.

Run from the repository root::

    python -m benchmarks.encoders --texts 512 --docs 64 --images 128
    python -m benchmarks.encoders --devices cuda cpu --texts 20000 --images 2048   # GPU beside CPU, one run

Posters are encoded with an untrained open_clip model unless ``--pretrained`` names weights this machine
has: the weights do not change the speed, only the meaning of the vectors.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

# Run as a file, this script's folder comes first on sys.path and its own name would shadow the encoders
# package; drop it so `from encoders import ...` below finds the package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

DEFAULT_DATA = Path(os.environ.get("CINEFUSE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def _overviews(data: Path, limit: int) -> list[str]:
    frame = pd.read_csv(data / "tmdb" / "movies_metadata.csv", usecols=["overview"], dtype=str,
                        on_bad_lines="skip")
    texts = [text for text in frame["overview"].dropna() if text.strip()]
    return texts[:limit]


def _review_documents(data: Path, limit: int, per_movie: int) -> list[list[str]]:
    docs: dict[str, list[str]] = {}
    with open(data / "reviews" / "reviews.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["imdbId"] not in docs and len(docs) == limit:
                continue
            texts = docs.setdefault(row["imdbId"], [])
            if len(texts) < per_movie:
                texts.append(row["text"])
    return list(docs.values())


def _timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def _measure(device: str, args: argparse.Namespace, overviews: list[str], docs: list[list[str]],
             posters: list[Path]) -> list[tuple[str, str, int, float, str]]:
    """Time each encoder on one device: (device, what, n, seconds, unit) rows, each after a warm-up batch."""
    from encoders import load_image_encoder, load_text_encoder

    rows: list[tuple[str, str, int, float, str]] = []
    text_encoder = load_text_encoder(args.text_model, device=device)
    name = text_encoder.device
    text_encoder.encode(overviews[:args.text_batch_size])
    seconds = _timed(lambda: text_encoder.encode(overviews, batch_size=args.text_batch_size))
    rows.append((name, "overviews (encode)", len(overviews), seconds, "texts"))
    chunks = sum(len(pieces) for doc in docs for pieces in text_encoder.chunk_texts(doc))
    seconds = _timed(lambda: text_encoder.encode_documents(docs, batch_size=args.text_batch_size))
    rows.append((name, "review docs (encode_documents)", len(docs), seconds, "docs"))
    rows.append((name, f"  = {chunks} chunks of {sum(len(d) for d in docs)} reviews", chunks, seconds, "chunks"))
    image_encoder = load_image_encoder(args.image_model, args.pretrained, allow_untrained=args.pretrained is None,
                                       device=device)
    if image_encoder is None:
        raise SystemExit("no image encoder: see the warning above")
    import encoders.image

    image_encoder.encode_images(posters[:args.image_batch_size])
    for threads in args.decode_threads:
        encoders.image.DECODE_THREADS = threads
        seconds = _timed(lambda: image_encoder.encode_images(posters, batch_size=args.image_batch_size))
        what = f"posters ({image_encoder.architecture}, {threads} decode thread{'s' * (threads > 1)})"
        rows.append((name, what, len(posters), seconds, "images"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--devices", nargs="+", default=["auto"],
                        help="devices to time, one after the other in this run (e.g. cuda cpu)")
    parser.add_argument("--text-model", default="all-MiniLM-L6-v2",
                        help="sentence-transformers name or local folder (default: the offline MiniLM)")
    parser.add_argument("--texts", type=int, default=512,
                        help="overviews to encode (the data's overviews are cycled where it has fewer)")
    parser.add_argument("--docs", type=int, default=64, help="movies whose reviews to pool")
    parser.add_argument("--reviews-per-movie", type=int, default=20)
    parser.add_argument("--images", type=int, default=128,
                        help="posters to encode (the data's posters are cycled where it has fewer)")
    parser.add_argument("--image-model", default="ViT-B-32")
    parser.add_argument("--pretrained", default=None, help="open_clip tag or checkpoint (default: untrained)")
    parser.add_argument("--text-batch-size", type=int, default=64)
    parser.add_argument("--image-batch-size", type=int, default=32)
    parser.add_argument("--decode-threads", type=int, nargs="+", default=[8],
                        help="poster decoding threads to time, one row each (e.g. 1 8: without and with)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import torch

    overviews = _overviews(args.data, args.texts)
    overviews = [overviews[i % len(overviews)] for i in range(args.texts)]
    docs = _review_documents(args.data, args.docs, args.reviews_per_movie)
    found = sorted((args.data / "posters" / "images").glob("*.jpg"))
    if not overviews or not found:
        raise SystemExit(f"{args.data}: no overviews (tmdb/movies_metadata.csv) or no posters (posters/images)")
    posters = [found[i % len(found)] for i in range(args.images)]
    rows = [row for device in args.devices for row in _measure(device, args, overviews, docs, posters)]
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"torch {torch.__version__}, GPU: {gpu}, torch threads: {torch.get_num_threads()}, cpus: {os.cpu_count()}")
    print(f"{'device':<8} {'what':<44} {'n':>6} {'seconds':>8} {'per second':>14}")
    for device, what, count, secs, unit in rows:
        print(f"{device:<8} {what:<44} {count:>6} {secs:>8.2f} {count / secs:>9.1f} {unit}")


if __name__ == "__main__":
    main()
