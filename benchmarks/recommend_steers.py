"""What "newer", "older", "shorter", "longer", "lighter", "darker", "sadder", "less mainstream" and "more
mainstream" do to a personal page: for
MovieLens people (their own ratings as the history), the page steered by each word read as a comparison (the
default) against the same word searched as text (how the parser read it before, ``READ_COMPARISONS`` off) and
against no steer.

Each word is judged by what it asks, on the top 10:
- newer / older: the share released after / before the median year of the movies the person liked;
- shorter / longer: the share at most 85% / at least 115% of the median runtime of those movies;
- lighter / darker: the share with a light genre (Comedy, Children, Animation, Musical) minus the share with a
  dark one (Horror, Thriller, Crime, War), higher for lighter, lower for darker (the tone is searched by meaning,
  never by genre, so genres are a fair judge);
- sadder: the share of dramas that are no comedy minus the share of comedies;
- less / more mainstream: the share less / more widely seen for its time than the median of the movies liked
  (``index.search.renown``: log ratings minus its decade's mean; the steer is that bound, so this checks it holds)
  and, beside it, the page's mean shrunk rating (a less-seen page should not be a worse one);
and by how much of the unsteered page it keeps (the page is still the person's).

    python benchmarks/recommend_steers.py --store runs/index --people 120
    python benchmarks/recommend_steers.py --store runs/index --words "less mainstream" "more mainstream"
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import index.query as query  # noqa: E402
from index.search import renown, shrunk_ratings  # noqa: E402
from recommender.api import Recommender  # noqa: E402
from recommender.evaluation.metrics import paired_difference  # noqa: E402

LIGHT = {"Comedy", "Children", "Animation", "Musical"}
DARK = {"Horror", "Thriller", "Crime", "War"}
WORDS = ("newer", "older", "shorter", "longer", "lighter", "darker", "sadder", "less mainstream", "more mainstream")


def judge(word: str, page: list[int], payloads: Mapping[int, Mapping[str, Any]], year: float,
          runtime: float, seen: float = float("nan")) -> float:
    """How well a page answers ``word`` (see the module docstring); higher is better for every word.

    Example:
        >>> p = {1: {"year": 2001, "runtime": 90, "genres": ["Comedy"]}, 2: {"year": 1990, "runtime": 150,
        ...      "genres": ["Horror"]}}
        >>> judge("newer", [1, 2], p, 1995, 120), judge("lighter", [1, 2], p, 1995, 120), judge("darker", [2], p, 0, 0)
        (0.5, 0.0, 1.0)
        >>> judge("less mainstream", [1, 2], {1: {"renown": -1.2}, 2: {"renown": 0.5}}, 0, 0, seen=0.1)
        0.5
    """
    def share(test: Callable[[Mapping[str, Any]], bool]) -> float:
        return float(np.mean([test(payloads[m]) for m in page])) if page else float("nan")

    def tone(p: Mapping[str, Any]) -> int:
        genres = set(p.get("genres") or [])
        return int(bool(genres & LIGHT)) - int(bool(genres & DARK))

    if word == "newer":
        return share(lambda p: (p.get("year") or 0) > year)
    if word == "older":
        return share(lambda p: 0 < (p.get("year") or 0) < year)
    if word == "shorter":
        return share(lambda p: 0 < (p.get("runtime") or 0) <= 0.85 * runtime)
    if word == "longer":
        return share(lambda p: (p.get("runtime") or 0) >= 1.15 * runtime)
    if word.endswith("mainstream"):
        fewer = word.startswith("less")
        return share(lambda p: p["renown"] < seen if fewer else p["renown"] > seen)
    if word == "sadder":
        return share(lambda p: "Drama" in (p.get("genres") or []) and "Comedy" not in (p.get("genres") or [])) - share(
            lambda p: "Comedy" in (p.get("genres") or []))
    score = float(np.mean([tone(payloads[m]) for m in page])) if page else float("nan")
    return score if word == "lighter" else -score


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--store", default="runs/index")
    ap.add_argument("--people", type=int, default=120, help="how many MovieLens user ids, from --first")
    ap.add_argument("--first", type=int, default=1, help="the first MovieLens user id")
    ap.add_argument("--words", nargs="+", default=list(WORDS), choices=WORDS)
    args = ap.parse_args(argv)
    words = args.words
    rec = Recommender.open(args.store)
    payloads = rec.payloads
    rows: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    users = [u for u in range(args.first, args.first + args.people) if rec.history_of(u)]
    ids = list(payloads)
    known = renown([payloads[m] for m in ids]).tolist()
    rating = dict(zip(ids, shrunk_ratings([payloads[m] for m in ids]).tolist(), strict=True))
    payloads = {m: {**payloads[m], "renown": r} for m, r in zip(ids, known, strict=True)}
    for user in users:
        history = rec.history_of(user)
        liked = [payloads.get(i.movie_id, {}) for i in history if i.sentiment() > 0]
        year = float(np.median([p["year"] for p in liked if p.get("year")] or [np.nan]))
        runtime = float(np.median([p["runtime"] for p in liked if p.get("runtime")] or [np.nan]))
        seen = float(np.median([p["renown"] for p in liked if "renown" in p] or [np.nan]))
        plain = [r.movie_id for r in rec.recommend(user_id=user, k=10, explore=False)]
        for word in words:
            rows.setdefault((word, "no steer"), []).append((judge(word, plain, payloads, year, runtime, seen), 1.0,
                                                            float(np.mean([rating[m] for m in plain]))))
            for how, read in (("as text", False), ("comparison", True)):
                query.READ_COMPARISONS = read
                page = [r.movie_id for r in rec.recommend(user_id=user, k=10, explore=False, steer=word)]
                rows.setdefault((word, how), []).append((judge(word, page, payloads, year, runtime, seen),
                                                         len(set(page) & set(plain)) / 10,
                                                         float(np.mean([rating[m] for m in page]))))
        query.READ_COMPARISONS = True
    rec.close()
    print(f"{len(users)} people, top 10 of each page; 'asked' is the word's own measure (higher is better), "
          "'kept' the share of the unsteered page that stays, 'rating' its mean shrunk MovieLens rating")
    print(f"{'word':<16} {'page':<11} {'asked':>7} {'kept':>6} {'rating':>7}  comparison minus this page (asked), "
          "95% interval")
    for word in words:
        new = np.array(rows[(word, "comparison")])
        for how in ("no steer", "as text", "comparison"):
            v = np.array(rows[(word, how)])
            ok = ~np.isnan(v[:, 0]) & ~np.isnan(new[:, 0])
            line = f"{word:<16} {how:<11} {np.nanmean(v[:, 0]):>7.3f} {v[:, 1].mean():>6.2f} {v[:, 2].mean():>7.3f}"
            if how != "comparison":
                d, lo, hi = paired_difference(new[ok, 0], v[ok, 0])
                line += f"  {d:+.3f} [{lo:+.3f}, {hi:+.3f}]"
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
