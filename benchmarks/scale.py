"""How each stage grows from 1M to 32M ratings on this machine: seconds and peak memory per stage, recommendation
latency at 87k movies, and quality at scale, on synthetic MovieLens releases (benchmarks/synth.py).

    nice -n 10 python benchmarks/scale.py --sizes 1 4 16 32 --work runs/scale
    python benchmarks/scale.py --sizes 4 --stages quality --eval-users 5000

Each size N (millions of ratings) is a synthetic release with ML-32M's proportions: 6,250 people per million
ratings (200k at 32M) and 87,585 * sqrt(N / 32) movies (15.5k at 1M, 87.6k at 32M), as the real releases grow
(ML-1M 3.7k movies, ML-10M 10.7k, ML-20M 27k, ML-25M 62k, ML-32M 87.6k). Every stage runs in a process of its
own, so its peak RSS is its own: the process's high-water mark (VmHWM) while the stage runs, counting the ratings
it holds (the high-water mark is reset after loading them, except for ingestion and the full build, whose numbers
start from an empty process). The stages:

* ``ingest``: ``load_movielens`` of ratings.csv, movies.csv, links.csv, tags.csv.
* ``als``, ``knn``, ``ease``: the fusion's three collaborative models fitted on every rating (EASE: the
  replacement above ``EASE_MAX_ITEMS`` movies).
* ``ranker``: the fusion model's ``fit_frame``: base models on the validation fold, the ranker's training rows
  (sampled by person), LightGBM, base models again on every rating.
* ``store``: every movie's payload, then its ``cf`` vector, into a fresh Qdrant Edge index.
* ``build``: ``cinefuse build --no-posters`` end to end (the synthetic movies have no overviews, so nothing is
  text-encoded): ingestion, catalogue, store, ranker, cf vectors, saved ranker.
* ``latency``: one top-10 recommendation for a new person with 20 ratings, on the built index, beside implicit's
  ``recommend(recalculate_user=True)`` in the same run.
* ``qdrant``: Qdrant Edge with as many points as movies: upsert, HNSW build, query p50/p95 and recall@10 against
  exact search, with and without int8 scalar quantization.
* ``quality``: protocols A and B on a seeded sample of test users: popularity, item-kNN, ALS, EASE (or its
  replacement) and the trained fusion, nDCG@10 with 95% bootstrap intervals and the fusion's paired gaps.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import pickle
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STAGES = ("ingest", "als", "knn", "ease", "ranker", "store", "build", "latency", "qdrant", "quality")
PEOPLE_PER_MILLION = 6_250
ML32M_MOVIES = 87_585


def shape(millions: float) -> tuple[int, int, int]:
    """(ratings, people, movies) of the synthetic release for ``millions`` of ratings.

    Example:
        >>> shape(32), shape(1)
        ((32000000, 200000, 87585), (1000000, 6250, 15483))
    """
    return int(millions * 1e6), int(millions * PEOPLE_PER_MILLION), int(round(ML32M_MOVIES * math.sqrt(millions / 32)))


def release(work: Path, millions: float) -> Path:
    """The synthetic release for this size under ``work``, generated on first use."""
    ratings, people, movies = shape(millions)
    folder = work / f"{millions:g}m" / f"ml-{millions:g}m-synth"
    if not (folder / "stats.json").exists():
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "synth.py"), "--out", str(folder),
                        "--ratings", str(ratings), "--users", str(people), "--movies", str(movies)],
                       check=True, stdout=subprocess.DEVNULL)
    return folder


# ----- inside a stage's own process -----------------------------------------------------------------------

def _reset_peak() -> None:
    with contextlib.suppress(OSError):  # not Linux: the peak then counts from the process start
        Path("/proc/self/clear_refs").write_text("5")


def _peak_gib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _ratings(data: Path) -> Any:
    from index.sources import load_movielens

    return load_movielens(data).ratings


def _items(data: Path) -> Any:
    from index.sources import load_movielens
    from recommender.ranking.fusion import ItemTable

    movies = load_movielens(data).movies
    payloads = {int(m): {"genres": g, "year": None if y is None or y != y else int(y)}
                for m, g, y in zip(movies["movie_id"], movies["genres"], movies["year"].astype(object), strict=True)}
    return ItemTable.from_payloads(payloads, {})


def stage_ingest(data: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    from index.sources import load_movielens

    started = time.perf_counter()
    d = load_movielens(data)
    return {"seconds": time.perf_counter() - started, "note": f"{len(d.ratings):,} ratings, {len(d.tags):,} tags"}


def _model_stage(weighting: str, make: Callable[[], Any]) -> Callable[[Path, Path, argparse.Namespace], dict[str, Any]]:
    def run(data: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
        from recommender.ranking.interactions import Interactions

        ratings = _ratings(data)
        _reset_peak()
        started = time.perf_counter()
        inter = Interactions.from_ratings(ratings, weighting=weighting)  # type: ignore[arg-type]
        matrix = (inter.matrix > 0).astype(np.float32) if weighting == "binary" else inter.matrix
        model = make()
        model.fit(matrix)
        note = f"{inter.n_users:,} x {inter.n_items:,}"
        if hasattr(model, "similarity") and model.similarity is not None:
            note += f", {model.similarity.nnz:,} neighbour weights"
        if getattr(model, "weights", None) is not None:
            columns = model.columns
            note += f", {len(columns) if columns is not None else inter.n_items:,} movies modelled"
        return {"seconds": time.perf_counter() - started, "note": note}
    return run


def stage_ranker(data: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    from recommender.ranking.fusion import FusionModel
    from recommender.ranking.interactions import Interactions

    ratings, items = _ratings(data), _items(data)
    _reset_peak()
    started = time.perf_counter()
    model = FusionModel(items, ranker="gbdt", validation="A")
    model.fit_frame(ratings, Interactions.from_ratings(ratings, item_ids=items.item_ids, weighting="confidence"))
    s = model.training_summary
    parts = ", ".join(f"{k} {v:.0f} s" for k, v in model.timings.items())
    return {"seconds": time.perf_counter() - started, "timings": model.timings,
            "note": f"{s['people']:,} people sampled, {s['rows']:,} rows ({s['positives']:,} positive); {parts}"}


def stage_store(data: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    from index.sources import load_movielens
    from index.store import StorePoint, StoreSchema, VectorSpec, open_store

    movies = load_movielens(data).movies
    rng = np.random.default_rng(0)
    factors = rng.normal(size=(len(movies), 128)).astype(np.float32)
    _reset_peak()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        store = open_store(Path(tmp) / "index")
        store.create(StoreSchema({"overview": VectorSpec(384, "none"), "cf": VectorSpec(128, "implicit-als", "dot")}))
        ids = movies["movie_id"].to_numpy()
        for start in range(0, len(ids), 512):
            store.upsert([StorePoint(int(m), {}, {"movie_id": int(m), "title": t, "genres": g, "year": y})
                          for m, t, g, y in movies.iloc[start:start + 512][["movie_id", "title", "genres", "year"]]
                          .itertuples(index=False)])
        upserted = time.perf_counter() - started
        store.set_vectors("cf", {int(m): factors[i] for i, m in enumerate(ids)})
        store.optimize()  # type: ignore[attr-defined]
        store.close()
    return {"seconds": time.perf_counter() - started, "note": f"{len(ids):,} movies; payloads {upserted:.1f} s"}


def stage_build(data: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    index = work / "index"
    if index.exists():
        shutil.rmtree(index)
    env = {**os.environ, "CINEFUSE_CACHE_DIR": str(work / "cache")}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "app.cli", "build", "--data", str(data), "--store", str(index),
                    "--no-posters", "--quiet"], check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    size = sum(f.stat().st_size for f in index.rglob("*") if f.is_file()) / 2**30
    ranker = index / "ranker.pkl"
    with open(ranker, "rb") as fh:
        model = pickle.load(fh)  # noqa: S301 - the file the build above just wrote
    parts = ", ".join(f"{k} {v:.0f} s" for k, v in getattr(model, "timings", {}).items())
    return {"seconds": seconds, "peak_gib": peak, "timings": getattr(model, "timings", {}),
            "note": f"index folder {size:.1f} GiB, ranker.pkl {ranker.stat().st_size / 2**30:.1f} GiB; "
                    f"inside the ranker: {parts}"}


def stage_latency(data: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.recommend import measure
    from recommender.api import Recommender

    with Recommender.open(str(work / "index")) as rec:
        ours, _, _, peer = measure(rec, requests=args.requests, history=20)
        n = len(rec.payloads)
    p = {f"{name}_p{q}": float(np.percentile(np.array(v) * 1e3, q))
         for name, v in (("ours", ours), ("peer", peer)) for q in (50, 95)}
    return {"seconds": 0.0, "note": f"{n:,} movies, {args.requests} requests", **p}


def stage_qdrant(data: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.qdrant_scale import measure_edge

    n = shape(args.size)[2]
    return {"seconds": 0.0, "note": f"{n:,} points", "rows": measure_edge(n, queries=args.requests, work=work)}


def stage_quality(data: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    from recommender.evaluation.experiments import evaluate_protocol

    ratings, items = _ratings(data), _items(data)
    out: dict[str, Any] = {"seconds": 0.0, "note": f"{args.eval_users:,} sampled test people (seed 42)"}
    started = time.perf_counter()
    for protocol in args.protocols:
        frame = evaluate_protocol(ratings, items, protocol, only=["popularity", "item-kNN", "ALS", "EASE",
                                                                   "fusion (trained ranker)"],
                                  sample_users=args.eval_users, rating_error=False)
        out[protocol] = {"models": {name: {"ndcg@10": row["ndcg@10"], "recall@20": row["recall@20"],
                                           "seconds": row["seconds"]} for name, row in frame.iterrows()},
                         "intervals": frame.attrs["intervals"], "paired": frame.attrs["paired"],
                         "users": frame.attrs["users"]}
        # each protocol takes long at scale: keep what is done even if a later one is stopped
        (work / "quality-partial.json").write_text(json.dumps(out, indent=2, default=float))
    out["seconds"] = time.perf_counter() - started
    return out


RUNNERS: dict[str, Callable[[Path, Path, argparse.Namespace], dict[str, Any]]] = {
    "ingest": stage_ingest,
    "als": _model_stage("confidence", lambda: __import__("recommender.ranking.collaborative").collaborative.ALSModel()),
    "knn": _model_stage("rating", lambda: __import__("recommender.ranking.collaborative").collaborative.ItemKNNModel()),
    "ease": _model_stage("binary", lambda: __import__("recommender.ranking.collaborative").collaborative.EASEModel(
        l2=100.0, max_items=__import__("recommender.ranking.collaborative").collaborative.EASE_MAX_ITEMS)),
    "ranker": stage_ranker,
    "store": stage_store,
    "build": stage_build,
    "latency": stage_latency,
    "qdrant": stage_qdrant,
    "quality": stage_quality,
}


def run_stage(name: str, data: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Run one stage in a child process and return its measurements (an ``error`` entry where it failed)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--data", str(data), "--work", str(work),
           "--size", str(args.size), "--requests", str(args.requests), "--eval-users", str(args.eval_users),
           "--protocols", *args.protocols]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _child(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    result = RUNNERS[args.child](Path(args.data), Path(args.work), args)
    result.setdefault("peak_gib", _peak_gib())
    result["load"] = round(os.getloadavg()[0], 1)  # the machine is shared: how busy it was when the stage ended
    print(json.dumps(result, default=float))


def _print(results: dict[str, dict[str, Any]]) -> None:
    sizes = list(results)
    cost = [s for s in STAGES if s not in ("latency", "qdrant", "quality") and any(s in results[z] for z in sizes)]
    if cost:
        print("\n## Seconds and peak RSS (GiB) per stage (load: the machine's 1-minute load average as it ended)\n")
        print("| stage | " + " | ".join(f"{z} ratings" for z in sizes) + " |")
        print("|---|" + "---|" * len(sizes))
        for s in cost:
            cells = []
            for z in sizes:
                r = results[z].get(s)
                load = f", load {r['load']:.0f}" if r and "load" in r else ""
                cells.append("" if r is None else
                             r.get("error", f"{r['seconds']:,.0f} s, {r['peak_gib']:.1f} GiB{load}"))
            print(f"| {s} | " + " | ".join(cells) + " |")
        for s in cost:
            notes = [f"{z}: {results[z][s].get('note')}" for z in sizes if results[z].get(s, {}).get("note")]
            if notes:
                print(f"- {s}: " + "; ".join(notes))
    for z in sizes:
        r = results[z].get("latency")
        if r and "error" not in r and "ours_p95" in r:
            print(f"\n## One top-10 recommendation, {z} ratings ({r['note']})\n")
            print("| system | p50 ms | p95 ms |\n|---|---|---|")
            print(f"| cinefuse (fold-in, Qdrant Edge candidates, LightGBM ranker) | {r['ours_p50']:.1f} | "
                  f"{r['ours_p95']:.1f} |")
            print(f"| implicit ALS recommend(recalculate_user=True) | {r['peer_p50']:.1f} | {r['peer_p95']:.1f} |")
        r = results[z].get("qdrant")
        if r and "error" not in r:
            print(f"\n## Qdrant Edge, {r['note']}, {z} ratings' catalogue\n")
            print("| collection | upsert s | HNSW build s | search p50 ms | p95 ms | 4-way fuse p50 ms | p95 ms |"
                  " recall@10 |\n|---|---|---|---|---|---|---|---|")
            for row in r["rows"]:
                print(f"| {row['name']} | {row['upsert_s']:.1f} | {row['optimize_s']:.1f} | {row['search_p50']:.2f} | "
                      f"{row['search_p95']:.2f} | {row['fuse_p50']:.2f} | {row['fuse_p95']:.2f} | "
                      f"{row['recall@10']:.3f} |")
        r = results[z].get("quality")
        if r and "error" not in r:
            for protocol in ("A", "B"):
                if protocol not in r:
                    continue
                q = r[protocol]
                print(f"\n## Quality, protocol {protocol}, {z} ratings, {q['users']:,} sampled test people\n")
                print("| model | nDCG@10 [95% interval] | Recall@20 | fusion minus model, nDCG@10 [95%] | seconds |")
                print("|---|---|---|---|---|")
                for name, m in q["models"].items():
                    mean, lo, hi = q["intervals"][name]
                    gap = q["paired"].get(name)
                    gap_text = f"{gap[0]:+.4f} [{gap[1]:+.4f}, {gap[2]:+.4f}]" if gap else ""
                    print(f"| {name} | {mean:.4f} [{lo:.4f}, {hi:.4f}] | {m['recall@20']:.4f} | {gap_text} | "
                          f"{m['seconds']:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=float, default=[1, 4, 16, 32], help="millions of ratings")
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    parser.add_argument("--work", default=str(ROOT / "runs" / "scale"))
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--eval-users", type=int, default=5000)
    parser.add_argument("--protocols", nargs="+", default=["A", "B"], choices=["A", "B"])
    parser.add_argument("--results", help="a JSON file to merge results into (default WORK/results.json)")
    parser.add_argument("--print-only", nargs="+", metavar="RESULTS_JSON", help="print the tables of saved results")
    parser.add_argument("--child", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=float, default=32, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    if args.print_only:
        merged: dict[str, dict[str, Any]] = {}
        for path in args.print_only:
            for key, stages in json.loads(Path(path).read_text()).items():
                merged.setdefault(key, {}).update(stages)
        _print({k: merged[k] for k in sorted(merged, key=_size_order)})
        return
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    results_path = Path(args.results or work / "results.json")
    results: dict[str, dict[str, Any]] = json.loads(results_path.read_text()) if results_path.exists() else {}
    for size in args.sizes:
        ratings, people, movies = shape(size)
        key = f"{size:g}M"
        data = release(work, size)
        stats = json.loads((data / "stats.json").read_text())
        print(f"{key}: {stats['ratings']:,} ratings, {people:,} people, {movies:,} movies at {data}", flush=True)
        args.size = size
        for stage in args.stages:
            result = run_stage(stage, data, data.parent, args)
            results.setdefault(key, {})[stage] = result
            brief = result.get("error") or f"{result.get('seconds', 0):,.0f} s, {result.get('peak_gib', 0):.1f} GiB"
            print(f"  {stage}: {brief}", flush=True)
            results_path.write_text(json.dumps(results, indent=2, default=float))
    _print({k: results[k] for k in sorted(results, key=_size_order)})


def _size_order(key: str) -> tuple[int, float, str]:
    try:
        return 0, float(key.rstrip("M")), key
    except ValueError:
        return 1, 0.0, key


if __name__ == "__main__":
    main()
