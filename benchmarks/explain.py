"""Explanation speed for a page of results on this CPU: the whole page batched, and the time to the first
explanation when streaming, for templates, the untuned base model and the fine-tuned model side by side.
Pages are held-out recommendations from the explainer's corpus (``cinefuse train-explainer`` writes it).

    python benchmarks/explain.py --explainer runs/index/explainer [--pages 3] [--page-size 10] [--threads 1]
"""

from __future__ import annotations

import os

# torch's OpenMP threads spin while they wait; on a shared 2-core machine that costs several times over
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recommender.explain.checker import Vocabulary
from recommender.explain.evidence import Evidence  # noqa: E402
from recommender.explain.lm import LMExplainer, TemplateExplainer, explainer_dir  # noqa: E402
from recommender.explain.train import load_corpus  # noqa: E402


def measure(explainer: Any, pages: list[list[Evidence]]) -> dict[str, float]:
    """Median seconds for a batched page (checked; and first tries only, for a model), to the first streamed
    explanation, and to the whole stream."""
    explainer.explain(pages[0][:2])  # warm up: first-call allocations, lazy imports
    page_s, first_s, stream_s, raw_s = [], [], [], []
    for page in pages:
        if hasattr(explainer, "generate"):
            start = time.perf_counter()
            explainer.generate(page)
            raw_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        explainer.explain(page)
        page_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        first = None
        for _ in explainer.stream(page):
            first = first if first is not None else time.perf_counter() - start
        stream_s.append(time.perf_counter() - start)
        first_s.append(first or 0.0)
    return {"page_s": statistics.median(page_s), "first_s": statistics.median(first_s),
            "raw_page_s": statistics.median(raw_s) if raw_s else statistics.median(page_s),
            "stream_s": statistics.median(stream_s), "worst_page_s": max(page_s), "worst_first_s": max(first_s)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--explainer", help="explainer folder (default <store>/explainer)")
    ap.add_argument("--store", default="runs/index")
    ap.add_argument("--pages", type=int, default=3, help="pages to time (median reported)")
    ap.add_argument("--page-size", type=int, default=10)
    ap.add_argument("--threads", type=int, default=None, help="torch threads while decoding (default 1)")
    ap.add_argument("--quantize", choices=["int8", "none"], default="int8")
    ap.add_argument("--no-base", action="store_true", help="skip the untuned base model")
    ap.add_argument("--budget", type=float, default=5.0,
                    help="also time the fine-tuned model with this time budget per call (0: skip)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    folder = Path(args.explainer) if args.explainer else explainer_dir(args.store)
    corpus = [e for e in load_corpus(folder / "corpus.jsonl") if e["split"] == "heldout"]
    evidence = [Evidence.from_dict(e["evidence"]) for e in corpus][: args.pages * args.page_size]
    pages = [evidence[i:i + args.page_size] for i in range(0, len(evidence), args.page_size)]
    vocabulary = Vocabulary.load(folder / "vocabulary.json")
    options: dict[str, Any] = {"vocabulary": vocabulary, "quantize": args.quantize, "threads": args.threads or 1}

    results: dict[str, dict[str, float]] = {"template": measure(TemplateExplainer(), pages)}
    results["template"]["load_s"] = 0.0
    candidates: list[tuple[str, Path | None, dict[str, Any]]] = [] if args.no_base else [("base", None, {})]
    candidates.append(("fine-tuned", folder, {}))
    if args.budget > 0:
        candidates.append((f"fine-tuned, {args.budget:g} s budget", folder, {"time_budget_s": args.budget}))
    for name, adapter, extra in candidates:
        start = time.perf_counter()
        explainer = LMExplainer.load(adapter, **options, **extra)
        load_s = time.perf_counter() - start
        results[name] = measure(explainer, pages)
        results[name]["load_s"] = load_s
        stats = explainer.stats
        total = stats.model + stats.regenerated + stats.template
        results[name]["model_written"] = (stats.model + stats.regenerated) / total if total else 0.0

    meta = {"pages": len(pages), "page_size": args.page_size, "cpu_threads_available": os.cpu_count(),
            "decode_threads": options["threads"], "quantize": args.quantize,
            "load_average": os.getloadavg()[0]}
    if args.json:
        print(json.dumps({"meta": meta, "results": results}, indent=2))
        return
    print(f"{len(pages)} pages of {args.page_size} held-out recommendations; decode threads {options['threads']}, "
          f"{args.quantize}; load average {meta['load_average']:.1f} on {os.cpu_count()} CPUs\n")
    print("| explainer | page (batched, checked) s | first tries only s | first streamed s | whole stream s "
          "| worst page s | load s | model-written |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        written = f"{r['model_written']:.0%}" if "model_written" in r else "-"
        print(f"| {name} | {r['page_s']:.3f} | {r['raw_page_s']:.3f} | {r['first_s']:.3f} | {r['stream_s']:.3f} "
              f"| {r['worst_page_s']:.3f} | {r['load_s']:.2f} | {written} |")


if __name__ == "__main__":
    main()
