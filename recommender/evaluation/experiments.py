"""`cinefuse evaluate`: every baseline, each content signal alone and the fusion, side by side in one run,
under both protocols, plus rating error and cold-start items; written as markdown, PNG charts and JSON."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix, vstack

from recommender.evaluation.metrics import mae, mean_interval, ndcg_at_k, paired_difference, recall_at_k, rmse
from recommender.evaluation.protocol import (
    BASELINES,
    FrameModel,
    SplitProtocol,
    rank_test_users,
    ranking_metrics,
    split_protocol,
    to_markdown,
)
from recommender.ranking.collaborative import BiasedMF, CollaborativeModel, top_n
from recommender.ranking.fusion import (
    CONTENT_FEATURES,
    CONTENT_SIGNALS,
    FEATURES,
    FusionModel,
    History,
    ItemTable,
    histories,
)
from recommender.ranking.interactions import Interactions, Weighting
from recommender.ranking.splits import reveal_liked, split_cold_items, split_new_people

log = logging.getLogger(__name__)


class SignalModel(FusionModel):
    """One signal alone (e.g. the overview profile's cosine), ranked with no fusion: a baseline."""

    def __init__(self, items: ItemTable, signal: str, **kwargs: Any) -> None:
        super().__init__(items, ranker="rrf", **kwargs)
        self.signal = signal
        self.column = FEATURES.index(signal)

    def score_history(self, history: History) -> np.ndarray:
        col = self.features(history)[:, self.column]
        return np.where(np.isnan(col), -np.inf, col).astype(np.float32)


ModelFactory = Callable[[], CollaborativeModel | FrameModel]
FUSION = "fusion (trained ranker)"
#: the ablation row: the same ranker, trained the same way, with every content feature removed
WITHOUT_CONTENT = "fusion without content"
#: protocol C's fusion shown the same liked movies without their dates, as the chat's and the API's likes are
#: (ranked half by the ranker without the era features, see fusion.DATELESS_WEIGHT): how much of its lead comes
#: from knowing when a person rated
NO_DATES = "fusion, likes without dates"
NO_CONTENT = tuple(f for f in FEATURES if f not in CONTENT_FEATURES)


def model_factories(items: ItemTable, protocol: Literal["A", "B", "C"], half_life_days: float | None = None
                    ) -> dict[str, tuple[ModelFactory, Weighting]]:
    """Every model of the comparison: the classic baselines, each content signal the index has, and the fusion.

    Example:
        >>> # model_factories(ItemTable.from_store(store), "A").keys()
    """
    extra: dict[str, Any] = {} if half_life_days is None else {"half_life_days": half_life_days}
    out: dict[str, tuple[ModelFactory, Weighting]] = {name: (factory, w) for name, (factory, w) in BASELINES.items()}
    for signal in CONTENT_SIGNALS:
        if items.has(signal).any():
            out[f"{signal} only"] = (partial(SignalModel, items, signal, **extra), "confidence")
    # under C the fusion is the one `cinefuse build` trains (A's fold plus a few-shot fold): it validated above
    # the same ranker trained on few-shot folds alone (benchmarks/validation.py, "C folds only")
    validation = "A" if protocol == "C" else protocol
    out["fusion (RRF, untrained)"] = (lambda: FusionModel(items, ranker="rrf", **extra), "confidence")
    out[FUSION] = (lambda: FusionModel(items, ranker="gbdt", validation=validation, **extra), "confidence")
    out[WITHOUT_CONTENT] = (lambda: FusionModel(items, ranker="gbdt", validation=validation, features=NO_CONTENT,
                                                **extra), "confidence")
    return out


def evaluate_protocol(ratings: pd.DataFrame, items: ItemTable, protocol: SplitProtocol,
                      only: Sequence[str] | None = None, tags: pd.DataFrame | None = None, *,
                      sample_users: int | None = None, seed: int = 42, rating_error: bool = True) -> pd.DataFrame:
    """One row per model under one protocol, plus RMSE/MAE of the biased MF rating model (``rating_error``). With
    ``tags`` (the MovieLens tags frame), each movie's user tags are rebuilt from the tags whose (person, movie) is
    not in test.

    ``sample_users`` ranks a seeded sample of that many test users (the same people for every model; see
    :func:`~recommender.evaluation.protocol.rank_test_users`). ``frame.attrs["intervals"]`` holds each model's
    nDCG@10 with its 95% bootstrap interval over the users ranked, ``frame.attrs["paired"]`` the fusion's gap to
    each baseline.

    Example:
        >>> # evaluate_protocol(ratings, items, "A").loc["fusion (trained ranker)", "ndcg@10"]
    """
    train, test = split_protocol(ratings, protocol)
    if tags is not None:
        items = items_with_training_tags(items, tags, exclude_pairs=test)
    rows: dict[str, dict[str, float]] = {}
    per_user: dict[str, np.ndarray] = {}
    vectors = _diversity_vectors(items)
    for name, (factory, weighting) in model_factories(items, protocol).items():
        if only and name not in only:
            continue
        started = time.perf_counter()
        log.info("protocol %s: %s", protocol, name)
        ranking = rank_test_users(factory(), train, test, 20, weighting=weighting,
                                  sample_users=sample_users, seed=seed)
        rows[name] = ranking_metrics(ranking, item_vectors=vectors)
        rows[name]["seconds"] = time.perf_counter() - started
        per_user[name] = ndcg_at_k(ranking.ranked, ranking.relevant, 10).per_user
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "model"
    frame.attrs["paired"] = fusion_versus_peers(per_user)
    frame.attrs["intervals"] = {name: tuple(round(v, 4) for v in mean_interval(values))
                                for name, values in per_user.items()}
    frame.attrs["users"] = int(rows[next(iter(rows))]["users"]) if rows else 0
    if not rating_error:
        frame.attrs["rmse"] = frame.attrs["mae"] = float("nan")
        return frame
    mf = BiasedMF().fit(train)
    known = test[test["user_id"].isin(train["user_id"])]
    predicted = mf.predict(known["user_id"].to_numpy(), known["movie_id"].to_numpy())
    frame.attrs["rmse"] = rmse(known["rating"].to_numpy(), predicted)
    frame.attrs["mae"] = mae(known["rating"].to_numpy(), predicted)
    return frame


def _diversity_vectors(items: ItemTable) -> dict[int, np.ndarray]:
    return {int(m): items.vectors["overview"][i] for i, m in enumerate(items.item_ids)
            if "overview" in items.vectors and items.vectors["overview"][i].any()}


def items_with_training_tags(items: ItemTable, tags: pd.DataFrame, *, exclude_pairs: pd.DataFrame | None = None,
                             exclude_users: Sequence[int] = (), exclude_movies: Sequence[int] = ()) -> ItemTable:
    """``items`` with each movie's user tags rebuilt from ``tags`` less those an evaluation's training data
    could not have had: tags a person wrote on a movie whose rating is test (``exclude_pairs``: a frame with
    ``user_id, movie_id``), every tag of held-out people, every tag on held-out movies. A person tags what they
    watched, so a test rating's tag would tell the model what that person watched.

    Example:
        >>> t = ItemTable.from_payloads({1: {}, 2: {}}, {})
        >>> tags = pd.DataFrame({"user_id": [5, 6], "movie_id": [1, 2], "tag": ["dark", "funny"]})
        >>> items_with_training_tags(t, tags, exclude_users=[6]).tokens["tags"]
        [['tag=dark'], []]
    """
    from index.catalog import distinct_tags

    keep = ~tags["user_id"].isin(list(exclude_users)) & ~tags["movie_id"].isin(list(exclude_movies))
    if exclude_pairs is not None and len(exclude_pairs):
        pairs = pd.MultiIndex.from_frame(exclude_pairs[["user_id", "movie_id"]])
        keep &= ~pd.MultiIndex.from_frame(tags[["user_id", "movie_id"]]).isin(pairs)
    return items.with_tags(distinct_tags(tags[keep].reset_index(drop=True)))


def fusion_versus_peers(per_user: Mapping[str, np.ndarray], fusion: str = FUSION
                        ) -> dict[str, tuple[float, float, float]]:
    """The trained fusion's metric minus each other model's, per user, with a 95% bootstrap interval: whether a
    gap is larger than the luck of one split (the untrained RRF fusion is left out).

    Example:
        >>> fusion_versus_peers({"fusion (trained ranker)": np.array([0.5, 0.7]), "EASE": np.array([0.4, 0.6])})
        {'EASE': (0.1, 0.1, 0.1)}
    """
    if fusion not in per_user:
        return {}
    return {name: tuple(round(v, 4) for v in paired_difference(per_user[fusion], values))  # type: ignore[misc]
            for name, values in per_user.items() if name not in (fusion, "fusion (RRF, untrained)")}


#: protocol C's history sizes: how many liked movies each held-out person names
NEW_PEOPLE_SIZES = (1, 3, 5, 10)


def evaluate_new_people(ratings: pd.DataFrame, items: ItemTable, sizes: Sequence[int] = NEW_PEOPLE_SIZES,
                        frac: float = 0.2, seed: int = 42, tags: pd.DataFrame | None = None,
                        only: Sequence[str] | None = None, k: int = 10, recall_k: int = 20,
                        designs: Mapping[str, Callable[[ItemTable], FusionModel]] | None = None,
                        folds: int = 1) -> pd.DataFrame:
    """Protocol C, "new people": ``frac`` of the people (seeded) are held out of all training; each is shown to
    every model as ``n`` of their liked movies (rating >= 4, drawn at random, nested across n), and the model
    ranks every other movie against the rest of their ratings. One row per (model, n): nDCG@k, Recall@recall_k
    and the fusion's per-person nDCG@k minus each model's with a 95% bootstrap interval (``attrs["paired"]``;
    the per-person values are in ``attrs["per_user"][n][model]``).
    Only people with at least ``max(sizes)`` likes and a rating left over take part, the same people for every
    n. Baselines fold the history in: popularity ignores it, item-kNN and EASE score its row, ALS solves the
    person's factors from it; each content signal alone scores its profile. ``designs`` (name -> a function of
    the item table giving an unfitted fusion) replaces the models, to compare designs on a validation split.
    ``folds`` > 1 repeats it on that many disjoint hold-outs (:func:`split_new_people`'s ``fold``; 1 / ``frac``
    of them hold every person out once), every model trained afresh each time, and pools the people.

    Example:
        >>> # evaluate_new_people(ratings, items).loc[("fusion (trained ranker)", 3), "ndcg@10"]
    """
    per_user: dict[int, dict[str, list[np.ndarray]]] = {n: {} for n in sizes}
    recall: dict[int, dict[str, list[np.ndarray]]] = {n: {} for n in sizes}
    when: dict[int, list[np.ndarray]] = {n: [] for n in sizes}  # each person's median rating date
    seconds: dict[str, float] = {}
    held_people = 0
    train_people = []
    for fold in range(folds):
        train, held = split_new_people(ratings, frac=frac, seed=seed, fold=fold)
        if held.empty:
            break
        held_people += int(held["user_id"].nunique())
        train_people.append(int(train["user_id"].nunique()))
        fold_items = items if tags is None else items_with_training_tags(
            items, tags, exclude_users=held["user_id"].unique().tolist())
        item_ids = np.union1d(train["movie_id"].unique(), held["movie_id"].unique())
        reveals = {n: reveal_liked(held, n, seed=seed, min_liked=max(sizes)) for n in sizes}
        confidence: Weighting = "confidence"
        models = model_factories(fold_items, "C") if designs is None else {
            name: (partial(design, fold_items), confidence) for name, design in designs.items()}
        for name, (factory, weighting) in models.items():
            if only and name not in only:
                continue
            log.info("protocol C, fold %d: %s", fold, name)
            started = time.perf_counter()
            inter = Interactions.from_ratings(train, item_ids=item_ids, weighting=weighting)
            model = factory()
            if isinstance(model, FrameModel):
                model.fit_frame(train, inter)
            else:
                model.fit(inter.matrix, show_progress=False)
            for n, (history, test) in reveals.items():
                people = histories(history)
                users = np.array(sorted(people), dtype=np.int64)
                seen = [set(inter.item_index[int(m)] for m in people[int(u)].movie_ids) for u in users]
                columns = pd.Index(inter.item_ids).get_indexer(test["movie_id"].to_numpy())
                relevant_of = test.assign(col=columns).groupby("user_id")["col"].agg(set)
                relevant = [relevant_of.get(int(u), set()) for u in users]
                shown = {name: [people[int(u)] for u in users]}
                if name == FUSION or designs is not None:  # a design's row without dates is named after it
                    shown[NO_DATES if name == FUSION else f"{name}, {NO_DATES.split(', ')[1]}"] = [
                        replace(h, timestamps=np.full(len(h.timestamps), np.nan)) for h in shown[name]]
                if len(when[n]) == fold:
                    when[n].append(held.groupby("user_id")["timestamp"].median().reindex(users).to_numpy())
                for row_name, people_shown in shown.items():
                    scores = _score_new_people(model, inter, people_shown)
                    for row, cols in enumerate(seen):
                        scores[row, list(cols)] = -np.inf
                    ranked = top_n(scores, max(k, recall_k))[0]
                    per_user[n].setdefault(row_name, []).append(ndcg_at_k(ranked, relevant, k).per_user)
                    recall[n].setdefault(row_name, []).append(recall_at_k(ranked, relevant, recall_k).per_user)
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started
    pooled = {n: {name: np.concatenate(values) for name, values in by_model.items()}
              for n, by_model in per_user.items()}
    names = list(dict.fromkeys(name for by_model in pooled.values() for name in by_model))
    rows = {(name, n): {f"ndcg@{k}": float(np.nanmean(pooled[n][name])),
                        f"recall@{recall_k}": float(np.nanmean(np.concatenate(recall[n][name]))),
                        "people": float(len(pooled[n][name])), "seconds": seconds.get(name, seconds.get(FUSION, 0.0))}
            for name in names for n in sizes if name in pooled[n]}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index = pd.MultiIndex.from_tuples(frame.index, names=["model", "n"])
    frame.attrs["paired"] = {n: fusion_versus_peers(pooled[n]) for n in sizes}
    frame.attrs.update(people=held_people, train_people=int(np.mean(train_people)) if train_people else 0,
                       per_user=pooled, folds=len(train_people),
                       when={n: np.concatenate(v) if v else np.zeros(0) for n, v in when.items()})
    return frame


def _score_new_people(model: CollaborativeModel | FrameModel, inter: Interactions, people: Sequence[History]
                      ) -> np.ndarray:
    """Every movie's score (columns of ``inter``) for each history of a person the model never saw."""
    if isinstance(model, FusionModel):
        return np.vstack([model.score_history(h) for h in people]) if people else np.zeros((0, inter.n_items))
    rows = [inter.history_row(h.movie_ids.tolist(), h.ratings.tolist()) for h in people]
    matrix = vstack(rows).tocsr() if rows else csr_matrix((0, inter.n_items), dtype=np.float32)
    return np.asarray(model.score(matrix), dtype=np.float32)  # type: ignore[union-attr]


def cold_start_recall(ratings: pd.DataFrame, items: ItemTable, k: int = 20, frac: float = 0.1, seed: int = 42,
                      half_life_days: float | None = None, held_out_from: Sequence[int] | None = None,
                      tags: pd.DataFrame | None = None, only: Sequence[str] | None = None,
                      designs: Mapping[str, Callable[[ItemTable], FusionModel]] | None = None) -> pd.DataFrame:
    """Recall@k on movies held out of all training (10% of those with content, or of `held_out_from` when
    given, so two item tables can be compared on the same movies), each test user ranking only the held-out
    movies. Popularity here is TMDB's (held-out movies have no ratings to count). With ``tags``, the held-out
    movies have no user tags (nobody has watched them) and the others keep theirs. ``attrs["paired"]``: the
    fusion's per-user Recall@k minus each other row's, with a 95% bootstrap interval. ``designs`` replaces the
    fusion rows (as in :func:`evaluate_new_people`); the per-user values are in ``attrs["per_user"]``.

    Example:
        >>> # cold_start_recall(ratings, items)["recall@20"]
    """
    with_content = [int(m) for i, m in enumerate(items.item_ids)
                    if any(items.has(s)[i] for s in CONTENT_SIGNALS if s in items.vectors)]
    if held_out_from is not None:
        with_content = sorted(set(with_content) & {int(m) for m in held_out_from})
    if not with_content:
        return _skipped(f"recall@{k}", "no movie in this index has an overview, reviews or a poster vector, so "
                        "nothing can be said about movies nobody has rated")
    train, test = split_cold_items(ratings, with_content, frac=frac, seed=seed)
    cold = np.unique(test["movie_id"].to_numpy())
    if tags is not None:
        items = items_with_training_tags(items, tags, exclude_movies=cold.tolist())
    item_ids = np.union1d(train["movie_id"].unique(), cold)
    inter = Interactions.from_ratings(train, item_ids=item_ids, weighting="confidence")
    test = test[test["user_id"].isin(inter.user_index)]
    users = np.unique(test["user_id"].to_numpy())
    if len(users) == 0:
        return _skipped(f"recall@{k}", "no held-out movie was rated by a person who also rated other movies")
    cold_cols = np.array([inter.item_index[int(m)] for m in cold])
    relevant = [set(g) for g in test.groupby("user_id")["movie_id"].agg(list).loc[users]]
    extra: dict[str, Any] = {} if half_life_days is None else {"half_life_days": half_life_days}

    def ranked(scores: np.ndarray) -> np.ndarray:
        return cold[top_n(scores[:, cold_cols], k)[0]]

    rows: dict[str, float] = {}
    per_user: dict[str, np.ndarray] = {}
    tmdb = np.array([items.tmdb_popularity[items.index[int(m)]] if int(m) in items.index else np.nan for m in cold])
    pop_scores = np.tile(np.nan_to_num(tmdb, nan=-1.0), (len(users), 1))
    popularity = recall_at_k(cold[top_n(pop_scores, k)[0]], relevant, k)
    rows["popularity (TMDB)"], per_user["popularity (TMDB)"] = popularity.mean, popularity.per_user
    models: dict[str, Callable[[], FusionModel]] = {
        f"{s} only": partial(SignalModel, items, s, **extra) for s in CONTENT_SIGNALS if items.has(s).any()}
    models["fusion (RRF, untrained)"] = partial(FusionModel, items, ranker="rrf", **extra)
    models[FUSION] = partial(FusionModel, items, ranker="gbdt", validation="B", **extra)
    models[WITHOUT_CONTENT] = partial(FusionModel, items, ranker="gbdt", validation="B", features=NO_CONTENT, **extra)
    if designs is not None:
        models = {**{name: f for name, f in models.items() if name.endswith(" only")},
                  **{name: partial(design, items) for name, design in designs.items()}}
    for name, factory in models.items():
        if only and name not in only:
            continue
        log.info("cold start: %s", name)
        model = factory()
        model.fit_frame(train, inter)
        result = recall_at_k(ranked(model.score_users(users)), relevant, k)
        rows[name], per_user[name] = result.mean, result.per_user
    frame = pd.DataFrame({f"recall@{k}": rows})
    frame.index.name = "model"
    frame.attrs.update(users=len(users), cold_movies=len(cold), paired=fusion_versus_peers(per_user),
                       per_user=per_user)
    return frame


def _skipped(column: str, reason: str) -> pd.DataFrame:
    log.warning("cold start skipped: %s", reason)
    frame = pd.DataFrame({column: pd.Series(dtype=float)})
    frame.index.name = "model"
    frame.attrs["skipped"] = reason
    return frame


def write_report(results: dict[str, pd.DataFrame], cold: pd.DataFrame | None, out_dir: Path,
                 data_name: str = "ml-latest-small") -> str:
    """Markdown tables, one PNG chart per protocol and for cold start, and results.json in ``out_dir``; call it
    again as each part finishes, so a long run leaves what it measured so far.

    Example:
        >>> # print(write_report({"A": frame_a, "B": frame_b}, cold, Path("runs/eval"), "ml-latest-small"))
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    cols = ["ndcg@10", "recall@20", "map@10", "precision@10", "recall@10", "hit_rate@10", "coverage@10",
            "diversity@10", "novelty@10", "serendipity@10", "seconds"]
    parts = [f"# cinefuse evaluation ({data_name})\n"]
    payload: dict[str, Any] = {}
    for protocol, frame in results.items():
        if protocol == "C":
            text, payload["C"] = _new_people_section(frame)
            parts.append(text)
            continue
        shown = frame[[c for c in cols if c in frame.columns]]
        title = {"A": "Protocol A: latest 20% per user", "B": "Protocol B: random 25% per user, seed 42"}
        parts.append(f"## {title.get(protocol, protocol)}\n\n{to_markdown(shown)}\n")
        parts.append(f"Biased MF rating model: RMSE {frame.attrs['rmse']:.4f}, MAE {frame.attrs['mae']:.4f}\n")
        paired = frame.attrs.get("paired") or {}
        if paired:
            lines = "\n".join(f"| {peer} | {d:+.4f} | [{lo:+.4f}, {hi:+.4f}] |" for peer, (d, lo, hi) in paired.items())
            parts.append("Trained fusion minus each baseline, nDCG@10 per user (95% bootstrap interval over users):\n\n"
                         f"| baseline | difference | 95% interval |\n|---|---:|---:|\n{lines}\n")
        payload[protocol] = {"models": shown.to_dict(orient="index"), "rmse": frame.attrs["rmse"],
                             "mae": frame.attrs["mae"], "fusion_minus_baseline_ndcg@10": paired}
        fig, ax = plt.subplots(figsize=(8, 0.45 * len(shown) + 1.2))
        shown["ndcg@10"].sort_values().plot.barh(ax=ax, color="#3b6ea8")
        ax.set_xlabel("nDCG@10")
        ax.set_title(title.get(protocol, protocol))
        fig.tight_layout()
        fig.savefig(out_dir / f"ndcg_protocol_{protocol}.png", dpi=110)
        plt.close(fig)
    if cold is not None and cold.attrs.get("skipped"):
        parts.append(f"## Cold-start items\n\nSkipped: {cold.attrs['skipped']}.\n")
        payload["cold_start"] = {"skipped": cold.attrs["skipped"]}
    elif cold is not None:
        parts.append(f"## Cold-start items: {cold.attrs.get('cold_movies')} movies held out of all training, "
                     f"{cold.attrs.get('users')} users\n\n{to_markdown(cold)}\n")
        paired = cold.attrs.get("paired") or {}
        if paired:
            lines = "\n".join(f"| {peer} | {d:+.4f} | [{lo:+.4f}, {hi:+.4f}] |" for peer, (d, lo, hi) in paired.items())
            parts.append(f"Trained fusion minus each row, {cold.columns[0]} per user (95% bootstrap interval):\n\n"
                         f"| row | difference | 95% interval |\n|---|---:|---:|\n{lines}\n")
        payload["cold_start"] = {"models": cold.iloc[:, 0].to_dict(),
                                 **{k: v for k, v in cold.attrs.items() if k != "per_user"}}
        fig, ax = plt.subplots(figsize=(8, 0.45 * len(cold) + 1.2))
        cold.iloc[:, 0].sort_values().plot.barh(ax=ax, color="#a8553b")
        ax.set_xlabel(cold.columns[0])
        ax.set_title("Cold-start items")
        fig.tight_layout()
        fig.savefig(out_dir / "cold_start.png", dpi=110)
        plt.close(fig)
    parts.append(_content_ablation(results, cold))
    text = "\n".join(parts)
    (out_dir / "report.md").write_text(text)
    (out_dir / "results.json").write_text(json.dumps(payload, indent=2, default=float))
    return text


def _new_people_section(frame: pd.DataFrame) -> tuple[str, dict[str, Any]]:
    """Protocol C's tables: nDCG@10 and Recall@20 per model and history size, and the fusion's paired gaps."""
    sizes = sorted(set(frame.index.get_level_values("n")))
    ndcg = frame["ndcg@10"].unstack("n")[sizes]
    recall = frame["recall@20"].unstack("n")[sizes]
    table = pd.concat({"nDCG@10": ndcg, "Recall@20": recall}, axis=1)
    table.columns = [f"{metric}, n={n}" for metric, n in table.columns]
    people = int(frame["people"].iloc[0]) if len(frame) else 0
    parts = [f"## Protocol C: new people ({frame.attrs.get('people', 0)} people held out of all training, seeded; "
             f"{people} with enough liked movies, each shown n random liked movies)\n\n{to_markdown(table)}\n"]
    lines = []
    for n in sizes:
        for peer, (d, lo, hi) in (frame.attrs.get("paired", {}).get(n) or {}).items():
            lines.append(f"| {n} | {peer} | {d:+.4f} | [{lo:+.4f}, {hi:+.4f}] |")
    if lines:
        parts.append("Trained fusion minus each model, nDCG@10 per person (95% bootstrap interval):\n\n"
                     "| n | model | difference | 95% interval |\n|---|---|---:|---:|\n" + "\n".join(lines) + "\n")
    ratios = []
    per_user = frame.attrs.get("per_user") or {}
    for n in sizes:
        peers = ndcg[n].drop([FUSION, WITHOUT_CONTENT, NO_DATES, "fusion (RRF, untrained)"], errors="ignore")
        if FUSION in ndcg.index and len(peers):
            best = peers.idxmax()
            line = (f"| {n} | {best} | {peers[best]:.4f} | {ndcg.loc[FUSION, n]:.4f} | "
                    f"{ndcg.loc[FUSION, n] / peers[best]:.2f}x |")
            if NO_DATES in ndcg.index and NO_DATES in per_user.get(n, {}):
                d, lo, hi = paired_difference(per_user[n][NO_DATES], per_user[n][best])
                line += (f" {ndcg.loc[NO_DATES, n]:.4f} | {ndcg.loc[NO_DATES, n] / peers[best]:.2f}x | "
                         f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}] |")
            ratios.append(line)
    if ratios:
        dates = (" likes without dates | ratio | minus the baseline |" if NO_DATES in ndcg.index else "")
        parts.append("The fusion against the best baseline of the same run, and the fusion shown the same likes "
                     "without their dates (as the chat's and the API's likes are: half by the ranker without the "
                     "era features), with its paired interval:\n\n| n | best baseline | its nDCG@10 | "
                     f"fusion | ratio |{dates}\n|---|---|---:|---:|---:|{'---:|' * 3 if dates else ''}\n"
                     + "\n".join(ratios) + "\n")
    payload = {"models": {f"{m} | n={n}": row for (m, n), row in frame.to_dict(orient="index").items()},
               "people": frame.attrs.get("people"), "train_people": frame.attrs.get("train_people"),
               "fusion_minus_model_ndcg@10": {str(n): v for n, v in (frame.attrs.get("paired") or {}).items()}}
    return "\n".join(parts), payload


def _content_ablation(results: Mapping[str, pd.DataFrame], cold: pd.DataFrame | None) -> str:
    """The ablation rows: the full fusion beside the fusion without content, with the paired interval."""
    rows = []
    for protocol, frame in results.items():
        if protocol == "C":
            ndcg = frame["ndcg@10"]
            for n in sorted(set(frame.index.get_level_values("n"))):
                gap = (frame.attrs.get("paired", {}).get(n) or {}).get(WITHOUT_CONTENT)
                if gap and (FUSION, n) in ndcg.index:
                    rows.append((f"C, n={n}", "nDCG@10", ndcg[(FUSION, n)], ndcg[(WITHOUT_CONTENT, n)], gap))
        elif FUSION in frame.index and WITHOUT_CONTENT in frame.index:
            gap = (frame.attrs.get("paired") or {}).get(WITHOUT_CONTENT)
            if gap:
                rows.append((protocol, "nDCG@10", frame.loc[FUSION, "ndcg@10"], frame.loc[WITHOUT_CONTENT, "ndcg@10"],
                             gap))
    if cold is not None and not cold.attrs.get("skipped") and FUSION in cold.index and WITHOUT_CONTENT in cold.index:
        gap = (cold.attrs.get("paired") or {}).get(WITHOUT_CONTENT)
        if gap:
            rows.append(("cold-start items", cold.columns[0], cold.iloc[:, 0][FUSION], cold.iloc[:, 0][WITHOUT_CONTENT],
                         gap))
    if not rows:
        return ""
    lines = "\n".join(f"| {p} | {metric} | {full:.4f} | {without:.4f} | {d:+.4f} | [{lo:+.4f}, {hi:+.4f}] |"
                       for p, metric, full, without, (d, lo, hi) in rows)
    return ("## What content adds: the fusion beside the fusion without content\n\n\"Fusion without content\" is the "
            "same ranker trained the same way with every overview, review, poster, metadata and content-map feature "
            "removed (genres, year and TMDB popularity stay).\n\n| protocol | metric | fusion | without content | "
            f"difference | 95% interval |\n|---|---|---:|---:|---:|---:|\n{lines}\n")
