"""The exploration slot, the last card of a personal page: what it costs and what it buys.

MovieLens people the index never saw are the users: protocol C's held-out 20% (seed 42), or with ``--validation``
20% of C's training people (seed 7; C's test people are then left out entirely), the split the rule was chosen on.
The benchmark writes the data folder without them and builds an index from it with ``cinefuse build`` (once, under
``--work``). Five of each person's liked films (4 stars or more), drawn at random, are the history, liked and undated
as the chat hears them; the page (10 cards, the chat's diversity) has its last card filled three ways:

- next ranked: no exploration, the tenth pick of the ranking;
- exploration: the library's pick, the best-scored candidate less mainstream than the liked films (below their
  median ``index.search.renown`` and out of the top 5% of its year, the bound "less mainstream" uses);
- before: the rule it replaced, rebuilt here for the record (the best overview, review or poster match among the
  less-rated half of the candidates, whatever the ranker thought of it).

Each is judged by whether the person rated the card (hit) and rated it 4 or more (liked), how widely seen it is for
its time (median renown, 0 to 1), the crowd's shrunk mean rating, and how many different films the slot showed.

    python benchmarks/exploration.py --data ../shared/data --work runs/exploration
    python benchmarks/exploration.py --data ../shared/data --work runs/exploration-val --validation
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

RULES = ("next ranked", "exploration", "before")


def without_people(data: Path, out: Path, validation: bool) -> pd.DataFrame:
    """Write ``out``: ``data`` with every file linked except the MovieLens ``ratings.csv``, which keeps only the
    training people; return the held-out people's ratings (``userId``, ``movieId``, ``rating``, ``timestamp``).

    Example:
        >>> # held = without_people(Path("../shared/data"), Path("runs/exploration/data"), validation=False)
    """
    from index.catalog import find_movielens_dir
    from recommender.ranking.splits import split_new_people

    folder = find_movielens_dir(data)
    raw = pd.read_csv(folder / "ratings.csv")
    frame = raw.rename(columns={"userId": "user_id", "movieId": "movie_id"})
    train, _ = split_new_people(frame, 0.2, seed=42)
    if validation:  # C's test people are left out entirely
        raw = raw[raw["userId"].isin(set(train["user_id"]))]
        train, _ = split_new_people(train, 0.2, seed=7)
    keep = raw["userId"].isin(set(train["user_id"]))
    (out / folder.name).mkdir(parents=True, exist_ok=True)
    for entry in data.iterdir():
        if entry.resolve() != folder.resolve():
            (out / entry.name).symlink_to(entry.resolve())
    for entry in folder.iterdir():
        if entry.name != "ratings.csv":
            (out / folder.name / entry.name).symlink_to(entry.resolve())
    raw[keep].to_csv(out / folder.name / "ratings.csv", index=False)
    return raw[~keep]


def before_rule(rec: Any, history: Sequence[Any], taken: set[int]) -> int | None:
    """The exploration pick as it was: the best content match (overview, reviews or poster feature) among the
    candidates rated by no more people than their median, whatever their score."""
    feats, cand, _ = rec._scored(list(history), None, None)
    cols = rec._cols(cand)
    popularity = rec.model.popularity[cols]
    content = feats[cols][:, 2:5]
    content = np.where(np.isnan(content), -np.inf, content).max(axis=1)
    ok = (popularity <= np.quantile(popularity, 0.5)) & np.isfinite(content) & ~np.isin(cand, list(taken))
    return int(cand[np.flatnonzero(ok)[np.argmax(content[ok])]]) if ok.any() else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--work", default="runs/exploration", help="where the data copy and its index go (reused)")
    ap.add_argument("--validation", action="store_true", help="hold out 20%% of C's training people (seed 7)")
    ap.add_argument("--likes", type=int, default=5, help="liked films revealed per person")
    ap.add_argument("--people", type=int, default=0, help="at most this many held-out people (0: all)")
    args = ap.parse_args(argv)

    from app.cli import main as cli
    from index.search import renown, shrunk_ratings
    from recommender.api import Recommender
    from recommender.evaluation.metrics import paired_difference
    from recommender.ranking.profile import Interaction

    work = Path(args.work)
    held_file, store = work / "held.csv", work / "index"
    if not held_file.exists():
        work.mkdir(parents=True, exist_ok=True)
        without_people(Path(args.data), work / "data", args.validation).to_csv(held_file, index=False)
    if not (store / "ranker.pkl").exists():
        cli(["build", "--data", str(work / "data"), "--store", str(store), "-q"])
    held = pd.read_csv(held_file)
    rec = Recommender.open(str(store))
    ids = list(rec.payloads)
    seen = dict(zip(ids, renown([rec.payloads[m] for m in ids]).tolist(), strict=True))
    crowd = dict(zip(ids, shrunk_ratings([rec.payloads[m] for m in ids]).tolist(), strict=True))
    rng = np.random.default_rng(0)
    rows: dict[str, list[tuple[float, float, float, float]]] = {r: [] for r in RULES}
    picks: dict[str, list[int]] = {r: [] for r in RULES}
    for _, person in held.groupby("userId", sort=True):
        liked = [int(m) for m in person.loc[person["rating"] >= 4, "movieId"] if int(m) in rec.payloads]
        if len(liked) < 2 * args.likes:
            continue
        history = [Interaction(int(m), liked=True) for m in rng.choice(liked, args.likes, replace=False)]
        plain = rec.recommend(history, k=10, diversity=0.85, explore=False)
        explored = rec.recommend(history, k=10, diversity=0.85)
        taken = {r.movie_id for r in plain[:9]}
        old = before_rule(rec, history, taken)
        other = dict(zip(person["movieId"].astype(int), person["rating"], strict=True))
        for h in history:
            other.pop(h.movie_id, None)
        for rule, movie in zip(RULES, (plain[-1].movie_id, explored[-1].movie_id, old), strict=True):
            if movie is None:  # nothing fitted the rule: a missing card, left out of the paired differences
                rows[rule].append((np.nan, np.nan, np.nan, np.nan))
                continue
            rows[rule].append((float(movie in other), float(other.get(movie, 0) >= 4), seen[movie], crowd[movie]))
            picks[rule].append(movie)
        if args.people and len(rows["next ranked"]) >= args.people:
            break
    rec.close()
    n = len(rows["next ranked"])
    print(f"{n} held-out people ({'validation: 20% of C’s training people' if args.validation else 'C’s test people'})"
          f", {args.likes} liked films each; the page's last card")
    print(f"{'last card':<12} {'hit':>6} {'liked':>6} {'renown':>7} {'rating':>7} {'distinct':>9}  "
          "exploration minus it: hit, liked (95% interval)")
    new = np.array(rows["exploration"])
    for rule in RULES:
        v = np.array(rows[rule])
        line = (f"{rule:<12} {np.nanmean(v[:, 0]):>6.3f} {np.nanmean(v[:, 1]):>6.3f} {np.nanmedian(v[:, 2]):>7.3f} "
                f"{np.nanmean(v[:, 3]):>7.2f} {len(set(picks[rule])):>9}")
        if rule != "exploration":
            line += "  {:+.3f} [{:+.3f}, {:+.3f}], {:+.3f} [{:+.3f}, {:+.3f}]".format(
                *paired_difference(new[:, 0], v[:, 0]), *paired_difference(new[:, 1], v[:, 1]))
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
