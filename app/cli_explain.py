"""The explanation commands: ``cinefuse train-explainer`` and ``cinefuse evaluate-explanations``.

``register(subparsers)`` adds both to the ``cinefuse`` parser. Each command prints its result (a summary or a
markdown table, or JSON with ``--json``); the work is done by :mod:`recommender.explain.train`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from index.config import Settings
from index.errors import CinefuseError

log = logging.getLogger("cinefuse")


def _quiet_openmp() -> None:
    # torch's OpenMP threads spin while they wait; on a busy 2-core machine that makes LoRA steps ~5x slower.
    # Read once when torch loads, so set before the first torch import of the process.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.load(getattr(args, "config", None), store=args.store)


def _explainer_folder(args: argparse.Namespace, settings: Settings) -> Path:
    from recommender.explain.lm import explainer_dir

    return Path(args.explainer).expanduser() if args.explainer else explainer_dir(settings)


def _catalog_payloads(data: str | None, settings: Settings) -> tuple[Any, dict[int, dict[str, Any]]]:
    from app.data import find_data
    from index.catalog import catalog_from_data_dir
    from recommender.explain.train import catalog_payloads

    catalog = catalog_from_data_dir(find_data(data, settings), skip_bad_rows=settings.skip_bad_rows)
    return catalog, catalog_payloads(catalog)


def _store_vectors(settings: Settings, ids: list[int]) -> dict[int, dict[str, Any]] | None:
    from index.store import open_store
    from recommender.explain.train import vectors_from_store

    local = not settings.store.startswith(("http://", "https://"))
    if local and not (Path(settings.store).expanduser() / "cinefuse.json").exists():
        log.info("no index at %s: evidence comes from shared genres, keywords and people", settings.store)
        return None
    store = open_store(settings.store, api_key=settings.api_key, collection=settings.collection)
    try:
        vectors = vectors_from_store(store, ids)
    finally:
        store.close()
    log.info("vectors for %d movies from %s", len(vectors), settings.store)
    return vectors or None


def _set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def cmd_train_explainer(args: argparse.Namespace) -> int:
    """Build the explanation corpus from real data and fine-tune the LoRA adapter.

    Example:
        >>> # cinefuse train-explainer --data ../shared/data --store runs/index --steps 300
    """
    _quiet_openmp()
    from recommender.explain.checker import Vocabulary
    from recommender.explain.train import build_corpus, save_corpus, train_lora

    settings = _settings(args)
    _set_threads(args.threads)
    out = _explainer_folder(args, settings)
    started = time.perf_counter()
    catalog, payloads = _catalog_payloads(args.data, settings)
    vocabulary = Vocabulary.from_payloads(payloads.values())
    vectors = None if args.no_vectors else _store_vectors(settings, sorted(payloads))
    corpus = build_corpus(payloads, catalog.ratings, vectors=vectors, vocabulary=vocabulary, users=args.users,
                          seed=args.seed)
    out.mkdir(parents=True, exist_ok=True)
    save_corpus(corpus, out / "corpus.jsonl")
    report = train_lora(corpus, out, args.steps, args.rank, learning_rate=args.learning_rate,
                        batch_size=args.batch_size, seed=args.seed, cache_dir=settings.cache_dir,
                        vocabulary=vocabulary, progress=not args.quiet)
    summary = {"out": str(out), "examples": len(corpus),
               "train": sum(e["split"] == "train" for e in corpus),
               "heldout": sum(e["split"] == "heldout" for e in corpus), "vectors": vectors is not None,
               "steps": report.steps, "train_seconds": report.seconds,
               "seconds_per_step": round(report.seconds_per_step, 3), "first_loss": report.losses[0],
               "last_loss": report.losses[-1], "total_seconds": round(time.perf_counter() - started, 1)}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(report.summary())
        print(f"corpus: {summary['examples']} examples ({summary['heldout']} held out), "
              f"{'real vectors' if vectors is not None else 'metadata overlap'}; adapter in {out}")
    return 0


def cmd_evaluate_explanations(args: argparse.Namespace) -> int:
    """Compare templates, the base model and the fine-tuned model on held-out examples.

    Example:
        >>> # cinefuse evaluate-explanations --store runs/index --limit 100 [--json]
    """
    _quiet_openmp()
    from recommender.explain.checker import Vocabulary
    from recommender.explain.lm import LMExplainer, TemplateExplainer
    from recommender.explain.train import (
        build_corpus,
        evaluate_explainers,
        load_corpus,
        markdown_table,
        target_report,
    )

    settings = _settings(args)
    _set_threads(args.threads)
    folder = _explainer_folder(args, settings)
    vocabulary = Vocabulary.load(folder / "vocabulary.json") if (folder / "vocabulary.json").is_file() else None
    if (folder / "corpus.jsonl").is_file():
        corpus = load_corpus(folder / "corpus.jsonl")
    elif args.data:
        catalog, payloads = _catalog_payloads(args.data, settings)
        vocabulary = vocabulary or Vocabulary.from_payloads(payloads.values())
        corpus = build_corpus(payloads, catalog.ratings, vocabulary=vocabulary, seed=args.seed)
    else:
        raise CinefuseError(f"no explanation corpus in {folder}: run `cinefuse train-explainer --data DIR` "
                            "first, or pass --data to build one")
    if vocabulary is None:
        _, payloads = _catalog_payloads(args.data, settings)
        vocabulary = Vocabulary.from_payloads(payloads.values())
    examples = [e for e in corpus if e["split"] == "heldout"][:args.limit]
    if not examples:
        raise CinefuseError(f"{folder / 'corpus.jsonl'} has no held-out examples")
    explainers: dict[str, Any] = {"template": TemplateExplainer()}
    options: dict[str, Any] = {"cache_dir": settings.cache_dir, "vocabulary": vocabulary,
                               "quantize": args.quantize}
    if not args.no_base:
        explainers["base"] = LMExplainer.load(None, **options)
    if (folder / "adapter_config.json").is_file():
        explainers["fine-tuned"] = LMExplainer.load(folder, **options)
    else:
        log.warning("no adapter in %s: only templates and the base model are compared", folder)
    frame = evaluate_explainers(examples, explainers, vocabulary, page_size=args.page_size,
                                progress=lambda name: log.info("explaining %d held-out picks with %s",
                                                               len(examples), name))
    targets = target_report(frame)
    result = {"examples": len(examples), "explainer": str(folder), "quantize": args.quantize,
              "rows": frame.to_dict(orient="records"), "targets": targets}
    (folder / "evaluation.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"explanations of {len(examples)} held-out recommendations ({folder}):\n")
        print(markdown_table(frame))
        print()
        for name, ok in targets.items():
            print(f"{'PASS' if ok else 'FAIL'}  {name}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``train-explainer`` and ``evaluate-explanations`` to the ``cinefuse`` sub-command parsers.

    Example:
        >>> parser = argparse.ArgumentParser(prog="cinefuse")
        >>> register(parser.add_subparsers(dest="command"))
        >>> parser.parse_args(["train-explainer", "--steps", "5"]).steps
        5
    """
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--store", help="the index the explainer belongs to [env CINEFUSE_STORE]")
        p.add_argument("--config", help="a TOML file of settings")
        p.add_argument("--explainer", help="the explainer folder (default <store>/explainer)")
        p.add_argument("--data", help="the data folder (ml-latest-small/, tmdb/, reviews/, ...)")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
        p.add_argument("--json", action="store_true", help="print JSON")

    t = subparsers.add_parser("train-explainer",
                              help="fine-tune the explanation model (LoRA on SmolLM2) on real ratings and reviews")
    common(t)
    t.add_argument("--steps", type=int, default=300, help="training steps (default 300)")
    t.add_argument("--rank", type=int, default=8, help="LoRA rank (default 8)")
    t.add_argument("--batch-size", type=int, default=4)
    t.add_argument("--learning-rate", type=float, default=1e-3)
    t.add_argument("--users", type=int, default=400, help="users sampled for the corpus (default 400)")
    t.add_argument("--no-vectors", action="store_true",
                   help="build evidence from shared metadata only, even where the index has vectors")
    t.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train_explainer)

    e = subparsers.add_parser("evaluate-explanations",
                              help="templates vs base vs fine-tuned explanations on held-out recommendations")
    common(e)
    e.add_argument("--limit", type=int, default=100, help="held-out examples to explain (default 100)")
    e.add_argument("--page-size", type=int, default=10)
    e.add_argument("--no-base", action="store_true", help="skip the untuned base model")
    e.add_argument("--quantize", choices=["int8", "none"], default="int8",
                   help="generate with int8 weights (default, as served) or fp32")
    e.set_defaults(func=cmd_evaluate_explanations)
