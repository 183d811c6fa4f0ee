"""The fusion ranker: per-signal scores (ALS, item-kNN, EASE, content profiles), their per-person ranks,
popularity (all-time and around the history's date), recency and genre overlap, ranked by gradient-boosted
trees (LightGBM) trained on a validation split (reciprocal rank fusion when untrained).

The ranker sees NaN where a movie or a user lacks a signal (no overview, no poster, no ratings yet), and the
trees learn what a missing value means instead of reading it as a low score. Movies nobody has rated go to a
second, content-only ranker, trained on rated movies whose collaborative evidence was hidden.

Why the ranker looks as it does (ml-latest-small, chosen on a validation split nested inside the training
data): a pointwise classifier pools every person's rows, and a per-person z-score means different things for
different people, so with free-form trees the learned odds were not even monotone in the ALS score (a tree
on that one column ranked worse than the column itself). The ranker therefore gets each collaborative score's
rank within the person's unseen movies as well, is constrained to be monotone in the collaborative columns,
is kept small (7 leaves, 200 rows a leaf), and reranks only the movies some collaborative model puts in its
top :data:`CANDIDATES`, where its training rows come from too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix

from index.store import rrf_term
from recommender.ranking.collaborative import EASE_MAX_ITEMS, ALSModel, EASEModel, ItemKNNModel
from recommender.ranking.content_map import ContentMap, mapped_factors
from recommender.ranking.era import EraCounts
from recommender.ranking.interactions import Interactions
from recommender.ranking.metadata import metadata_scores
from recommender.ranking.profile import DEFAULT_HALF_LIFE_DAYS, interaction_weights, profile_vector
from recommender.ranking.splits import reveal_liked, split_latest, split_new_people, split_random
from recommender.ranking.tables import CONTENT_SIGNALS, History, ItemTable, histories

log = logging.getLogger(__name__)

#: the metadata similarity features (TF-IDF cosine of each movie with the person's liked movies' tokens)
METADATA_FEATURES = ("meta_people", "meta_studio", "meta_keywords", "metadata")
#: the popularity of a movie around the history's date and the movie's age then (:mod:`recommender.ranking.era`).
#: Protocol C's validation (four disjoint hold-outs of C's training people, 390 people), nDCG@10 with minus
#: without them at n = 1, 3, 5, 10: +0.147 [+0.124, +0.171], +0.036 [+0.020, +0.053], +0.020 [+0.006, +0.035],
#: -0.004 [-0.015, +0.009]; A -0.0010 [-0.0075, +0.0053], B +0.0004 [-0.0044, +0.0052]. ``history_span`` (how many
#: days the history's ratings spread over, :func:`_span_days`) and ``history_popularity`` (how mainstream its movies
#: are) tell the ranker whether a person rated in one sitting or over years: with minus without both on the same
#: hold-outs, n = 1, 3, 5, 10: +0.009 [+0.001, +0.017], -0.001 [-0.009, +0.009], +0.007 [+0.001, +0.014], +0.007
#: [+0.002, +0.013]
ERA_FEATURES = ("era_popularity", "release_age", "history_span")
#: the first ten keep their historical positions (the API reads columns 0-5 by position)
FEATURES = ("cf", "knn", "overview", "reviews", "poster", "genre_overlap", "popularity", "tmdb_popularity",
            "year", "history_size", "ease", "cf_rank", "knn_rank", "ease_rank", "overview_rank", "reviews_rank",
            "poster_rank", "content_cf", "content_cf_rank", *METADATA_FEATURES, "metadata_rank", *ERA_FEATURES,
            "history_popularity")
#: score columns and the log-rank column each one gets
RANKED = {"cf": "cf_rank", "knn": "knn_rank", "ease": "ease_rank", "overview": "overview_rank",
          "reviews": "reviews_rank", "poster": "poster_rank", "content_cf": "content_cf_rank",
          "metadata": "metadata_rank"}
COLLABORATIVE = ("cf", "knn", "ease")
#: what "fusion without content" leaves out: every feature read from a movie's text, poster or metadata, and
#: the content-to-collaborative map (genres, year and TMDB popularity stay)
CONTENT_FEATURES = (*CONTENT_SIGNALS, *(RANKED[s] for s in CONTENT_SIGNALS), "content_cf", "content_cf_rank",
                    *METADATA_FEATURES, "metadata_rank")
RRF_K = 60
#: what a movie nobody has rated can be ranked by: its content, genres, metadata popularity, year (not the era
#: features: with them the tiny catalogue's cold ranker stopped telling a liked director's film from its twin)
COLD_FEATURES = np.array([f not in (*COLLABORATIVE, "popularity", *ERA_FEATURES) and f not in
                          {RANKED[c] for c in COLLABORATIVE} for f in FEATURES])
#: the ranker's odds may only rise with a collaborative score (and fall with its rank)
MONOTONE = np.array([1 if f in COLLABORATIVE else -1 if f in {RANKED[c] for c in COLLABORATIVE} else 0
                     for f in FEATURES])
COLD_DISCOUNT = 0.5
#: movies each collaborative model contributes to the reranked pool (validation: 50 beat 100 and 300)
CANDIDATES = 50
#: the most popular movies of the history's era added to the pool (:mod:`recommender.ranking.era`); protocol C's
#: validation split, nDCG@10 at n = 1: 0.5887 with them, 0.5087 without (+0.080 [+0.040, +0.120]), n = 3-10 within
#: +-0.01
ERA_CANDIDATES = CANDIDATES
#: movies each content signal contributes among those with no collaborative evidence
COLD_CANDIDATES = 100
#: the signals that draw those movies
COLD_POOL = (*CONTENT_SIGNALS, "content_cf", "metadata")
#: the validation splits the ranker learns from, per protocol: (folds, share of ratings each holds out; under C
#: the share of people held out, each shown as :data:`FEW_SHOT_SIZES` liked movies).
#: Chosen on ml-latest-small's nested validation splits (benchmarks/validation.py). Under A older windows hurt
#: (3 folds 0.1409 vs 1 fold 0.1460 nDCG@10). Under B more folds help (3 x 25% 0.2243 vs 1 x 25% 0.2186), and
#: small hold-outs help more the more data there is: base models fitted on 90% of the training ratings behave
#: like the deployed ones fitted on all of it (4 x 10% vs 3 x 25%: 0.2267 vs 0.2235 with a quarter held out for
#: validation, 0.1497 vs 0.1432 and 0.1550 vs 0.1488 with a tenth held out, two seeds).
VALIDATION = {"A": (1, 0.2), "B": (4, 0.1), "C": (2, 0.2)}
#: how many liked movies a pseudo-new person reveals (protocol C's sizes); each person gives one history of each
FEW_SHOT_SIZES = (1, 3, 5, 10)
#: the content-to-collaborative map the fusion fits (benchmarks/content_map.py chose it)
DEFAULT_CONTENT_MAP = ContentMap("ridge", alpha=3.0)
#: a rated movie's cf vector is (n x ALS factors + CF_PRIOR_RATINGS x mapped factors) / (n + CF_PRIOR_RATINGS) for
#: n ratings: the map counts as a few ratings' worth of evidence (benchmarks/content_map.py: with 1-5 ratings the
#: blend ranked a movie's later raters above either vector alone)
CF_PRIOR_RATINGS = 3.0
#: protocol-C folds added to A's and B's own. benchmarks/validation.py, protocol C nested in C's training people
#: (seed 7), nDCG@10 at n = 1, 3, 5, 10: one few-shot fold 0.4405, 0.5701, 0.6063, 0.6025; none 0.3384, 0.4864,
#: 0.5359, 0.5630 (paired gaps +0.10, +0.08, +0.07, +0.04, every interval above zero); C's folds alone (what
#: validation="C" uses) 0.4533, 0.5690, 0.6038, 0.5997 (gaps within +-0.02, intervals across zero)
FEW_SHOT_FOLDS = 1
#: a history without dates (the chat's, the API's likes) is ranked by this share of a ranker trained on the same
#: rows without the era features, and the rest of the one that reads its date as the catalogue's latest.
#: benchmarks/validation.py --people-folds 4 (390 people), undated likes, nDCG@10 at n = 1, 3, 5, 10: 0 (read as
#: now) 0.451, 0.493, 0.506, 0.510; 0.5 0.501, 0.553, 0.574, 0.575; 1 0.498, 0.572, 0.591, 0.609. For the 157
#: people who rated in 2009-2018, the nearest to someone using the app today, 0.5 is as good as "now" or better
#: at every n (+0.036 [+0.016, +0.058] at n = 3 for 2009-2015) where 1 loses at n = 1 (-0.057, -0.046); for those
#: who rated before 2009, whose era "now" misreads, 0.5 gains +0.08 to +0.10 over it
DATELESS_WEIGHT = 0.5
#: a dated history of at least this many rated movies is ranked this share by the dateless ranker as well: with
#: five or more films the taste they show says more than their era. benchmarks/validation.py --people-folds 4, nDCG@10
#: at n = 5 and 10: +0.006 [-0.002, +0.014], +0.013 [+0.006, +0.020] (n = 1 and 3 unchanged); ranking every dated
#: history so, n = 1 lost -0.011 [-0.020, -0.002]; A +0.002 [-0.003, +0.007], B +0.002 [-0.002, +0.006]
DATED_DATELESS = (5, 0.5)
_COL = {f: j for j, f in enumerate(FEATURES)}
ERA_COLUMNS = np.array([f in ERA_FEATURES for f in FEATURES])
#: the feature columns of each content signal a movie may lack (dropped together in training, see CONTENT_DROPOUT)
MODALITIES = {**{s: np.array([_COL[s], _COL[RANKED[s]]]) for s in CONTENT_SIGNALS},
              "metadata": np.array([_COL[f] for f in (*METADATA_FEATURES, "metadata_rank")])}
#: the chance a pseudo-cold training movie loses each of its MODALITIES (DropoutNet's idea; off: not yet shown to help
#: on a validation split, `benchmarks/validation.py --designs chosen "modality dropout 0.3"` compares it)
CONTENT_DROPOUT = 0.0


def _fit_ranker(X: np.ndarray, y: np.ndarray, seed: int, monotone: np.ndarray | None = None) -> Any:
    """A LightGBM binary classifier (a ``Booster``), or None where the split gave nothing to learn from (then
    RRF ranks).

    Small trees with large leaves: on ml-latest-small's validation split, 31-leaf trees fitted noise in the
    pooled rows and ranked below their own best feature. LightGBM rather than scikit-learn's histogram boosting
    (which validated alike) because it scores a request's few hundred rows in one native call, about 1 ms
    instead of 2.5. 150 rounds at rate 0.05 (with the fusion's EASE at l2 100, see :class:`FusionModel`)
    validated above 75 at 0.1 on every nested split tried: +0.0024 and +0.0020 nDCG@10 under B, +0.0033 and
    +0.0002 under A.
    """
    if len(y) < 2 or not y.any():
        log.warning("ranker: %d training rows with %d positives; falling back to reciprocal rank fusion",
                    len(y), int(y.sum()))
        return None
    try:
        import lightgbm
    except OSError as exc:  # the wheel links the system's OpenMP runtime
        raise RuntimeError(f"LightGBM could not load ({exc}); install the OpenMP runtime "
                           "(Debian/Ubuntu: apt-get install libgomp1) and train again") from exc

    params = {"objective": "binary", "learning_rate": 0.05, "num_leaves": 7,
              "min_data_in_leaf": int(np.clip(len(y) // 250, 5, 200)), "lambda_l2": 1.0, "seed": seed,
              "deterministic": True, "force_row_wise": True, "verbosity": -1}
    if monotone is not None:
        params["monotone_constraints"] = monotone.tolist()
    return lightgbm.train(params, lightgbm.Dataset(X, y.astype(np.float32)), num_boost_round=150)


def _odds(model: Any, X: np.ndarray) -> np.ndarray:
    """The ranker's probability of each row being a hit (a Booster, or a scikit-learn classifier pickled by
    an older build)."""
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)[:, 1]
    return model.predict(X, num_threads=1)


def log_ranks(scores: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
    """log(1 + rank) of each present score, best first (0 for the best); NaN where absent or excluded.
    Equal scores share the best of their ranks, so the order a sort gives ties cannot change a feature.

    Example:
        >>> [round(float(r), 3) for r in log_ranks(np.array([0.2, np.nan, 0.9, 0.5, 0.9]))]
        [1.386, nan, 0.0, 1.099, 0.0]
    """
    ok = ~np.isnan(scores) if exclude is None else ~np.isnan(scores) & ~exclude
    out = np.full(len(scores), np.nan, dtype=np.float32)
    idx = np.flatnonzero(ok)
    order = np.argsort(-scores[idx])
    ranked = scores[idx][order]
    position = np.arange(len(order))
    first_of_tie = np.r_[True, ranked[1:] != ranked[:-1]] if len(order) else np.zeros(0, bool)
    out[idx[order]] = np.log1p(np.maximum.accumulate(np.where(first_of_tie, position, 0)).astype(np.float32))
    return out


def reciprocal_rank_fusion(scores: np.ndarray, weights: Sequence[float] | None = None, k: int = RRF_K) -> np.ndarray:
    """Fuse columns of scores (items x signals, NaN = absent) as Qdrant does (:func:`index.store.rrf_term`);
    absent signals add nothing.

    Example:
        >>> reciprocal_rank_fusion(np.array([[0.9, np.nan], [0.1, 0.8]])).round(4).tolist()
        [0.0167, 0.0331]
    """
    out = np.zeros(scores.shape[0], dtype=np.float64)
    for j in range(scores.shape[1]):
        col = scores[:, j]
        ok = ~np.isnan(col)
        if not ok.any():
            continue
        order = np.argsort(-np.where(ok, col, -np.inf), kind="stable")
        ranks = np.empty(len(col))
        ranks[order] = np.arange(len(col))
        out += np.where(ok, rrf_term(ranks, 1.0 if weights is None else weights[j], k), 0.0)
    return out


def standardize_columns(scores: np.ndarray) -> np.ndarray:
    """Each column as z-scores over its present values (NaN stays NaN): one person's scores from models fitted
    on different amounts of data become comparable, which is what the ranker needs.

    Example:
        >>> standardize_columns(np.array([[1.0, np.nan], [3.0, 2.0]])).tolist()
        [[-1.0, nan], [1.0, 0.0]]
    """
    ok = ~np.isnan(scores)
    count = ok.sum(axis=0)
    filled = np.where(ok, scores, 0.0)
    mean = filled.sum(axis=0) / np.maximum(count, 1)
    centred = np.where(ok, scores - mean, 0.0)
    std = np.sqrt((centred * centred).sum(axis=0) / np.maximum(count, 1))
    return np.where(ok, centred / np.where(std > 0, std, 1.0), np.nan).astype(np.float32)


def log_ranks_at(scores: np.ndarray, rows: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
    """``log_ranks(scores, exclude)[rows]`` without sorting every score: each row's count of valid scores
    strictly above its own, found by placing every score among the rows' sorted scores (n log k for k rows).

    Example:
        >>> s = np.array([0.2, np.nan, 0.9, 0.5, 0.9], dtype=np.float32)
        >>> rows = np.array([3, 0, 1])
        >>> np.allclose(log_ranks_at(s, rows), log_ranks(s)[rows], equal_nan=True)
        True
    """
    ok = ~np.isnan(scores) if exclude is None else ~np.isnan(scores) & ~exclude
    out = np.full(len(rows), np.nan, dtype=np.float32)
    mine = ok[rows]
    if not mine.any():
        return out
    own = scores[rows[mine]]
    order = np.argsort(own, kind="stable")
    sorted_own = own[order]
    # a score lies above the rows whose score is below it: how many scores land at or past each row's place
    places = np.searchsorted(sorted_own, scores[ok], side="left")
    above = len(places) - np.cumsum(np.bincount(places, minlength=len(own) + 1))[:-1]
    counts = np.empty(len(own), dtype=np.int64)
    counts[order] = above
    out[mine] = np.log1p(counts.astype(np.float32))
    return out


def _span_days(history: History) -> float:
    """log(1 + days between a history's first and last rated movie): many MovieLens people rate everything in one
    sitting, and a history's spread says how much more they rated. NaN for one rated movie; a history without dates
    (the chat's likes) is read as one sitting now, as the era reads it, so two or more of its films span 0 (C's nested
    validation, likes without dates, against NaN, n = 3, 5, 10: +0.014 [+0.005, +0.024], +0.017 [+0.009, +0.026],
    +0.022 [+0.014, +0.030])."""
    stamps = np.asarray(history.timestamps, dtype=np.float64)[history.rated()]
    if len(stamps) > 1 and not np.isfinite(stamps).any():
        return 0.0
    stamps = stamps[np.isfinite(stamps)]
    return float(np.log1p((stamps.max() - stamps.min()) / 86400.0)) if len(stamps) > 1 else float("nan")


@dataclass
class Fold:
    """One validation split the ranker learns from: base models fit ``past``; each person in ``histories`` is
    scored from that history and ``future`` holds what they went on to rate. Under A and B a person's history
    is their own ``past`` ratings; a few-shot fold's people are absent from ``past`` and their histories are a
    few liked movies (protocol C's pseudo-new people)."""

    past: pd.DataFrame
    future: pd.DataFrame
    seed: int
    histories: dict[int, History] | None = None
    owners: dict[int, int] | None = None  # a few-shot fold's history key -> the person it was drawn from


def few_shot_histories(held: pd.DataFrame, seed: int, sizes: Sequence[int] = FEW_SHOT_SIZES
                       ) -> tuple[dict[tuple[int, int], History], pd.DataFrame]:
    """Protocol C's view of held-out people, as the ranker learns from it: for each person and each size n, a
    history of n of their liked movies (:func:`~recommender.ranking.splits.reveal_liked`, nested across n), keyed
    ``(person, n)``, and the frame of what each ``(person, n)`` history left to find (column ``history_key``).

    Example:
        >>> held = pd.DataFrame({"user_id": 5, "movie_id": range(6), "rating": 5.0, "timestamp": range(6)})
        >>> hs, future = few_shot_histories(held, seed=1, sizes=(1, 3))
        >>> sorted(hs), len(hs[(5, 3)].movie_ids), len(future[future["history_key"] == (5, 3)])
        ([(5, 1), (5, 3)], 3, 3)
    """
    out: dict[tuple[int, int], History] = {}
    futures = []
    for n in sizes:
        history, test = reveal_liked(held, n, seed=seed)
        for user, h in histories(history).items():
            out[(user, n)] = h
        futures.append(test.assign(history_key=[(int(u), n) for u in test["user_id"]]))
    frame = pd.concat(futures) if futures else held.iloc[:0].assign(history_key=[])
    return out, frame


class FusionModel:
    """Fuses collaborative and content signals for a person's history; ``ranker="rrf"`` needs no training.

    Implements the harness's frame-model protocol (``fit_frame``/``score_users``) and scores any new
    history with :meth:`score_history`. ``ease_l2=None`` leaves EASE out (its weights are a dense
    items x items matrix: about 0.4 GB for ml-latest-small; above :data:`EASE_MAX_ITEMS` movies it models the most-rated
    ones only). The fusion's EASE uses l2 100, where the EASE baseline uses 300: as one feature among others a
    sharper EASE validated better (B, two nested splits).

    The ranker learns from at most ``max_training_users`` people per validation fold, drawn at random (seed
    ``seed``): about 120 candidate rows each, so 1,000 people give some 120k rows whatever the catalogue, and
    training time stops growing with the number of people. :attr:`training_summary` says what was sampled.

    ``content_map`` maps each movie's content into the ALS space (:mod:`recommender.ranking.content_map`; None: no
    ``content_cf`` feature). ``few_shot_folds`` adds that many protocol-C folds (people of the training data held
    out and shown as 1, 3, 5 and 10 liked movies) to the protocol's own, so the ranker also learns what a
    history of a few films is worth; under ``validation="C"`` every fold is one. ``dateless_weight`` is the share
    of a history without dates that a second ranker, trained on the same rows without the era features, ranks
    (:data:`DATELESS_WEIGHT`); ``dated_dateless`` is ``(rated movies, share)``: a dated history with at least that
    many rated movies is ranked that share by it too (:data:`DATED_DATELESS`). With both shares 0 none is trained.
    """

    def __init__(self, items: ItemTable, *, ranker: Literal["gbdt", "rrf"] = "gbdt",
                 half_life_days: float = DEFAULT_HALF_LIFE_DAYS, validation: Literal["A", "B", "C"] = "A",
                 candidates: int = CANDIDATES, max_training_users: int = 1000, seed: int = 42, folds: int | None = None,
                 features: Sequence[str] = FEATURES, validation_frac: float | None = None,
                 ease_l2: float | None = 100.0, content_map: ContentMap | None = DEFAULT_CONTENT_MAP,
                 few_shot_folds: int = FEW_SHOT_FOLDS, content_candidates: int = 0,
                 content_dropout: float = CONTENT_DROPOUT, era_candidates: int = ERA_CANDIDATES,
                 dateless_weight: float = DATELESS_WEIGHT,
                 dated_dateless: tuple[int, float] = DATED_DATELESS) -> None:
        self.items = items
        self.ranker_kind = ranker
        self.half_life_days = half_life_days
        self.validation = validation
        self.candidates = candidates
        self.max_training_users = max_training_users
        self.seed = seed
        unknown = sorted(set(features) - set(FEATURES))
        if unknown:
            raise ValueError(f"unknown fusion feature(s) {unknown}; choose among {list(FEATURES)}")
        self.use = np.array([f in features for f in FEATURES])
        self.folds = folds if folds is not None else VALIDATION[validation][0]
        self.validation_frac = validation_frac if validation_frac is not None else VALIDATION[validation][1]
        self.few_shot_folds = 0 if validation == "C" else few_shot_folds
        self.content_candidates = content_candidates
        self.content_dropout = content_dropout
        self.era_candidates = era_candidates if self.use[_COL["era_popularity"]] else 0
        if not 0.0 <= dateless_weight <= 1.0:
            raise ValueError(f"dateless_weight is a share in [0, 1], got {dateless_weight!r}")
        if not 0.0 <= dated_dateless[1] <= 1.0:
            raise ValueError(f"dated_dateless is (rated movies, share in [0, 1]), got {dated_dateless!r}")
        era = self.use[[_COL[f] for f in ERA_FEATURES]].any()  # without the era both rankers would be one
        self.dateless_weight = dateless_weight if era else 0.0
        self.dated_dateless = dated_dateless if era else (0, 0.0)
        self.ease_l2 = ease_l2
        self.training_summary: dict[str, int] = {}
        self.timings: dict[str, float] = {}  # seconds per stage of the last fit_frame, validation folds included
        self.content_map = content_map if self.use[_COL["content_cf"]] else None
        self.model: Any = None
        self.active = np.ones(len(FEATURES), dtype=bool)
        self.cold_model: Any = None
        self.cold_active = COLD_FEATURES.copy()
        self.dateless_model: Any = None  # the warm ranker for histories without dates (no era features)
        self.dateless_active = self.active & ~ERA_COLUMNS
        self.als: ALSModel | None = None
        self.knn: ItemKNNModel | None = None
        self.ease: EASEModel | None = None
        self.inter: Interactions | None = None
        self._histories: dict[int, History] = {}
        self._cols: np.ndarray = np.zeros(0, dtype=np.int64)
        self._popularity = np.zeros(len(items.item_ids), dtype=np.float32)
        self._cf_known = np.zeros(len(items.item_ids), dtype=bool)
        self._era = EraCounts.from_ratings(np.zeros(0, np.int64), np.zeros(0), len(items.item_ids))
        self._mapped: np.ndarray | None = None  # each fitted column's content-mapped ALS factors
        self._item_vectors = np.zeros((0, 0), dtype=np.float32)  # what the cf score reads: ALS factors + mapped

    @property
    def popularity(self) -> np.ndarray:
        """Each fitted column's log(1 + number of ratings), in the column order of :attr:`inter`."""
        return self._popularity

    @property
    def histories(self) -> Mapping[int, History]:
        """The histories the model was fitted on, by MovieLens user id."""
        return self._histories

    # ----- fitting --------------------------------------------------------------------------------------
    def fit_frame(self, train_df: pd.DataFrame, inter: Interactions) -> None:
        """Train the ranker on validation splits of ``train_df``, then refit the base models on all of it."""
        self.timings = {}
        if self.ranker_kind == "gbdt":
            no_x, no_y = np.zeros((0, len(FEATURES)), np.float32), np.zeros(0, np.int8)  # where no fold has rows
            parts: list[list[np.ndarray]] = [[no_x], [no_y], [no_x], [no_y]]
            for fold in self._validation_folds(train_df, inter.item_ids):
                started = time.perf_counter()
                for part, rows in zip(parts, self._training_rows(fold), strict=True):
                    part.extend(rows)
                self._timed("training rows", started)
            started = time.perf_counter()
            X, y, Xc, yc = (np.concatenate(part) for part in parts)
            self.training_summary = {"people": len(parts[1]) - 1, "rows": len(y), "positives": int(y.sum()),
                                     "cold_rows": len(yc), "cold_positives": int(yc.sum())}
            self.active = self.use & ~np.isnan(X).all(axis=0)  # e.g. no poster vectors: nothing to learn there
            self.model = _fit_ranker(X[:, self.active], y, self.seed, MONOTONE[self.active])
            self.dateless_active = self.active & ~ERA_COLUMNS
            self.dateless_model = (_fit_ranker(X[:, self.dateless_active], y, self.seed,
                                               MONOTONE[self.dateless_active])
                                   if self.dateless_weight or self.dated_dateless[1] else None)
            self.cold_active = self.active & COLD_FEATURES & ~np.isnan(Xc).all(axis=0)
            if len(yc) and self.cold_active.any():
                self.cold_model = _fit_ranker(Xc[:, self.cold_active], yc, self.seed, MONOTONE[self.cold_active])
            self._timed("lightgbm", started)
            log.info("fusion ranker trained on %d rows (%d positive), cold ranker on %d (%d positive)",
                     len(y), int(y.sum()), len(yc), int(yc.sum()))
        self._fit_base(train_df, inter.item_ids)

    def _validation_folds(self, train_df: pd.DataFrame, item_ids: np.ndarray) -> Iterator[Fold]:
        """Each validation :class:`Fold`, with the base models fitted on its ``past``. Protocol A's folds are
        successive windows (the latest ratings, then the latest before those, ...); B's are random splits with
        seeds ``seed``, ``seed + 1``, ...; C's (and the :attr:`few_shot_folds` added to A's or B's) hold out a
        share of the people, seeds ``seed + 100``, ``seed + 101``, ... (see :data:`VALIDATION`)."""
        frac = self.validation_frac
        source = train_df
        own = 0 if self.validation == "C" else self.folds
        for fold in range(own):
            if self.validation == "A":
                past, future = split_latest(source, frac)
                source = past
            else:
                past, future = split_random(train_df, frac, seed=self.seed + fold)
            if future.empty:
                break
            self._fit_base(past, item_ids)
            yield Fold(past, future, self.seed + fold)
        few_shot = self.folds if self.validation == "C" else self.few_shot_folds
        people = VALIDATION["C"][1] if self.validation != "C" else frac
        for fold in range(few_shot):
            seed = self.seed + 100 + fold
            past, held = split_new_people(train_df, people, seed=seed)
            pseudo, future = few_shot_histories(held, seed)
            if future.empty or past.empty:
                break
            self._fit_base(past, item_ids)
            keyed = dict(enumerate(pseudo.values()))
            index = {key: i for i, key in enumerate(pseudo)}
            future = future.assign(user_id=[index[k] for k in future["history_key"]])
            yield Fold(past, future.drop(columns="history_key"), seed, keyed, {i: k[0] for k, i in index.items()})

    def _timed(self, stage: str, started: float) -> float:
        """Add the seconds since ``started`` to :attr:`timings` under ``stage``; returns the time now."""
        now = time.perf_counter()
        self.timings[stage] = round(self.timings.get(stage, 0.0) + now - started, 2)
        return now

    def _fit_base(self, frame: pd.DataFrame, item_ids: np.ndarray) -> None:
        started = time.perf_counter()
        self.inter = Interactions.from_ratings(frame, item_ids=item_ids, weighting="confidence")
        self._cols = np.array([self.items.index.get(int(m), -1) for m in item_ids], dtype=np.int64)
        rating_inter = Interactions.from_ratings(frame, item_ids=item_ids, weighting="rating")
        started = self._timed("matrices", started)
        self.als = ALSModel(factors=128, regularization=30.0, iterations=15)
        self.als.fit(self.inter.matrix)
        started = self._timed("als", started)
        self.knn = ItemKNNModel(k_neighbours=20, shrinkage=10.0)
        self.knn.fit(rating_inter.matrix)
        started = self._timed("knn", started)
        self.ease = None  # free the previous fit's weights before the next inverse
        if self.ease_l2 is not None and self.ranker_kind == "gbdt":
            self.ease = EASEModel(l2=self.ease_l2, max_items=EASE_MAX_ITEMS)
            self.ease.fit((rating_inter.matrix > 0).astype(np.float32))
            started = self._timed("ease", started)
        counts = np.asarray((self.inter.matrix > 0).sum(axis=0)).ravel()
        self._popularity = np.log1p(counts).astype(np.float32)
        self._cf_known = counts > 0
        self._era = EraCounts.from_frame(frame, self.inter.item_index, self.inter.n_items)
        self._histories = histories(frame)
        self._timed("matrices", started)
        started = time.perf_counter()
        self._mapped = None
        self._item_vectors = self.als.item_factors
        if self.content_map is not None:
            known = self._cols >= 0
            x = self.items.content()[np.maximum(self._cols, 0)] * known[:, None]  # outside the table: no content
            self._mapped = mapped_factors(x, self.als.item_factors, self._cf_known, self.content_map,
                                          seed=self.seed)
            # a movie with few ratings: its ALS factors shrunk towards the mapped ones, as n / (n + prior)
            n = np.where(known, counts, np.inf).astype(np.float32)[:, None]
            prior = np.float32(CF_PRIOR_RATINGS)
            blended = (n * self.als.item_factors + prior * self._mapped) / (n + prior)
            self._item_vectors = np.where(np.isfinite(n), blended, self.als.item_factors).astype(np.float32)
        self._timed("content map", started)

    def _training_rows(self, fold: Fold) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray],
                                                  list[np.ndarray]]:
        """Per person: warm rows (every feature, real) and pseudo-cold rows (a tenth of the rated movies with their
        collaborative evidence hidden), each with its labels; the rows are the candidates scoring would rerank."""
        rng = np.random.default_rng(fold.seed)
        people = fold.histories if fold.histories is not None else self._histories
        assert self.inter is not None
        users = [u for u in fold.future["user_id"].unique() if int(u) in people]
        users = list(rng.permutation(users)[: self.max_training_users * (len(FEW_SHOT_SIZES) if fold.histories
                                                                          is not None else 1)])
        hidden = rng.random(self.inter.n_items) < 0.1
        # modality dropout (as DropoutNet drops inputs): each pseudo-cold movie loses each content signal with
        # this chance, so the cold ranker learns to rank by whatever a movie nobody rated happens to have
        dropped = {name: rng.random(self.inter.n_items) < self.content_dropout for name in MODALITIES}
        wanted = fold.future.groupby("user_id")["movie_id"].agg(set)
        warm_x: list[np.ndarray] = []
        warm_y: list[np.ndarray] = []
        cold_x: list[np.ndarray] = []
        cold_y: list[np.ndarray] = []
        for u in users:
            history = people[int(u)]
            truth = {self.inter.item_index.get(int(m), -1) for m in wanted[u]}
            weights = interaction_weights(history.interactions(), self.half_life_days)
            raw = self.raw_scores(history, weights=weights)  # shared by the warm and the pseudo-cold rows
            feats = self.features(history, weights=weights, raw=raw)
            cand = self.candidate_columns(feats, history)
            cand = cand[~hidden[cand] & self._cf_known[cand]]  # the warm ranker only ever sees rated movies
            warm_x.append(feats[cand])
            warm_y.append(np.array([c in truth for c in cand], dtype=np.int8))
            masked = self.features(history, hide_cf=hidden, weights=weights, raw=raw)
            for name, columns in MODALITIES.items():
                masked[np.ix_(dropped[name] & hidden, columns)] = np.nan
            cold = np.intersect1d(np.flatnonzero(hidden & self._cf_known), self.candidate_columns(masked, history))
            cold_x.append(masked[cold])
            cold_y.append(np.array([c in truth for c in cold], dtype=np.int8))
        return warm_x, warm_y, cold_x, cold_y

    def cf_vectors(self) -> dict[int, np.ndarray]:
        """Each movie's vector in the collaborative space, by movieId: the factors the content map gives it
        (:mod:`recommender.ranking.content_map`) where nobody rated it, so a new movie is found by the same ``cf`` query
        as the others, else its ALS factors, shrunk towards the mapped ones while it has few ratings (the vectors
        the ``cf`` feature scores).

        Example:
            >>> # store.set_vectors("cf", model.cf_vectors())
        """
        assert self.inter is not None and self.als is not None
        out = {int(self.inter.item_ids[c]): self._item_vectors[c] for c in np.flatnonzero(self._cf_known)}
        if self._mapped is not None:
            out.update({int(self.inter.item_ids[c]): self._mapped[c] for c in np.flatnonzero(~self._cf_known)
                        if self._cols[c] >= 0})
        return out

    # ----- features -------------------------------------------------------------------------------------
    def user_vector(self, history: History) -> np.ndarray | None:
        """The person's collaborative vector, folded in from their ratings (None without rated movies)."""
        assert self.inter is not None and self.als is not None
        rated = history.rated()
        row = self.inter.history_row(history.movie_ids[rated].tolist(), history.ratings[rated].tolist())
        return self.als.fold_in(row)[0] if row.nnz else None

    def _seen_mask(self, history: History) -> np.ndarray:
        """True at each fitted column the history has rated."""
        assert self.inter is not None
        seen = np.zeros(self.inter.n_items, dtype=bool)
        cols = [self.inter.item_index.get(int(m), -1) for m in history.movie_ids]
        seen[[c for c in cols if c >= 0]] = True
        return seen

    def features(self, history: History, hide_cf: np.ndarray | None = None,
                 cf_vector: np.ndarray | None = None, weights: Mapping[int, float] | None = None,
                 raw: np.ndarray | None = None, ranks: bool = True) -> np.ndarray:
        """The feature matrix (columns of the fitted item set x :data:`FEATURES`) for one history
        (``weights``: its :func:`interaction_weights`, where the caller has them already; ``raw``: its
        :meth:`raw_scores`, where the caller has them already, e.g. for the same person with and without
        ``hide_cf``). With ``ranks=False`` the rank columns stay empty until :meth:`add_ranks` fills them for
        the rows to be ranked: ranking every movie costs more than the rest of a request at 87k movies."""
        if weights is None:
            weights = interaction_weights(history.interactions(), self.half_life_days)
        # a caller's ``raw`` is reused (with and without ``hide_cf``): finish a copy; our own needs none
        out = self.raw_scores(history, cf_vector, weights) if raw is None else raw.copy(order="F")
        return self._finish_features(out, history, hide_cf, weights, ranks=ranks or not self._ranks_later)

    @property
    def _ranks_later(self) -> bool:
        """Whether :meth:`add_ranks` can fill the rank columns afterwards: every rank feature kept with its signal
        (a signal left out is blanked before it could be ranked)."""
        return all(self.use[_COL[signal]] or not self.use[_COL[rank]] for signal, rank in RANKED.items())

    def add_ranks(self, feats: np.ndarray, cols: np.ndarray, history: History) -> None:
        """Fill the rank columns of ``cols`` in a feature matrix made with ``features(..., ranks=False)``: the
        same values ``features`` gives them (:func:`log_ranks_at`), in place."""
        if not self._ranks_later or len(cols) == 0:
            return
        seen = self._seen_mask(history)
        for signal, rank in RANKED.items():
            if self.use[_COL[rank]] and not np.isnan(feats[:, _COL[signal]]).all():
                feats[cols, _COL[rank]] = log_ranks_at(feats[:, _COL[signal]], cols, exclude=seen)

    def raw_scores(self, history: History, cf_vector: np.ndarray | None = None,
                   weights: Mapping[int, float] | None = None) -> np.ndarray:
        """The costly part of :meth:`features`: each content profile's and each collaborative model's score of
        every movie, unstandardised (the other columns NaN)."""
        assert self.inter is not None and self.als is not None and self.knn is not None
        n = self.inter.n_items
        out = np.full((n, len(FEATURES)), np.nan, dtype=np.float32, order="F")  # filled column by column
        if weights is None:
            weights = interaction_weights(history.interactions(), self.half_life_days)
        cols = self._cols
        known = cols >= 0
        for signal in CONTENT_SIGNALS:
            mat = self.items.vectors.get(signal)
            if mat is None:
                continue
            rows = {m: mat[self.items.index[m]] for m in weights if m in self.items.index}
            p = profile_vector(weights, rows)
            if p is None:
                continue
            has = self.items.has(signal)
            scores = mat @ p
            col = np.full(n, np.nan, dtype=np.float32)
            col[known] = np.where(has[cols[known]], scores[cols[known]], np.nan)
            out[:, _COL[signal]] = col
        rows_of = {self.items.index[m]: w for m, w in weights.items() if m in self.items.index}
        for name in METADATA_FEATURES:
            if self.use[_COL[name]]:
                scores = metadata_scores(self.items.metadata(name), rows_of)
                out[known, _COL[name]] = scores[cols[known]]
        user = cf_vector if cf_vector is not None else self.user_vector(history)
        if user is not None:
            out[:, _COL["cf"]] = self._item_vectors @ user
            if self._mapped is not None:
                out[:, _COL["content_cf"]] = self._mapped @ user
            row = self._rating_row(history)
            out[:, _COL["knn"]] = self.knn.score(row)[0]
            if self.ease is not None:
                ease = self.ease.score((row > 0).astype(np.float32))[0]
                out[:, _COL["ease"]] = np.where(np.isfinite(ease), ease, np.nan)  # -inf: a movie EASE leaves out
        return out

    def _finish_features(self, out: np.ndarray, history: History, hide_cf: np.ndarray | None,
                         weights: Mapping[int, float], ranks: bool = True) -> np.ndarray:
        """Mask, standardise and rank the raw scores, and add the cheap columns (genres, popularity, year...)."""
        n = out.shape[0]
        cols = self._cols
        known = cols >= 0
        liked = [m for m, w in weights.items() if w > 0]
        unknown_cf = ~self._cf_known if hide_cf is None else (~self._cf_known | hide_cf)
        collaborative = np.array([_COL[c] for c in COLLABORATIVE])
        out[np.ix_(unknown_cf, collaborative)] = np.nan
        seen = self._seen_mask(history)
        # EASE scores a person's own movies far above the rest; they are never candidates, so leave them out
        out[seen, _COL["ease"]] = np.nan
        # columns are standardised one by one, so an empty one (no poster vectors, say) can be left as it is
        scored = [_COL[s] for s in RANKED if not np.isnan(out[:, _COL[s]]).all()]
        if scored:
            out[:, scored] = standardize_columns(out[:, scored])
        for signal, rank in RANKED.items():
            if ranks and not np.isnan(out[:, _COL[signal]]).all():
                out[:, _COL[rank]] = log_ranks(out[:, _COL[signal]], exclude=seen)
        genre_profile = np.zeros(self.items.genres.shape[1], dtype=np.float32)
        for m in liked:
            if m in self.items.index:
                genre_profile += weights[m] * self.items.genres[self.items.index[m]]
        if genre_profile.any():
            g = self.items.genres[cols[known]]
            norms = self.items.genre_norms()[cols[known]] * np.linalg.norm(genre_profile)
            col = np.full(n, np.nan, dtype=np.float32)
            col[known] = np.where(norms > 0, g @ genre_profile / np.where(norms > 0, norms, 1), np.nan)
            out[:, _COL["genre_overlap"]] = col
        # relative to the most-rated movie, so fitting on more ratings does not shift the whole column
        popularity = np.where(hide_cf, 0.0, self._popularity) if hide_cf is not None else self._popularity
        most_rated = self._popularity.max() if len(popularity) else 0.0
        out[:, _COL["popularity"]] = popularity - most_rated
        if self.use[_COL["era_popularity"]] or self.use[_COL["release_age"]]:
            when = self._era.when(history.timestamps)
            era = self._era.popularity(when)
            top = era.max() if len(era) else 0.0
            out[:, _COL["era_popularity"]] = (np.where(hide_cf, 0.0, era) if hide_cf is not None else era) - top
            out[known, _COL["release_age"]] = when + 1970.0 - self.items.year[cols[known]]
        out[known, _COL["tmdb_popularity"]] = self.items.tmdb_popularity[cols[known]]
        out[known, _COL["year"]] = self.items.year[cols[known]]
        out[:, _COL["history_size"]] = float(history.rated().sum())  # what the fold-in reads
        out[:, _COL["history_span"]] = _span_days(history)
        rated = self._rating_row(history).indices  # a dislike says nothing about how mainstream a person is
        rated = rated[self._cf_known[rated]]
        if len(rated):
            out[:, _COL["history_popularity"]] = float(self._popularity[rated].mean() - most_rated)
        out[:, ~self.use] = np.nan  # a feature left out is neither ranked on nor drawn candidates from
        return out

    def _rating_row(self, history: History) -> csr_matrix:
        assert self.inter is not None
        cols = np.array([self.inter.item_index.get(int(m), -1) for m in history.movie_ids], dtype=np.int64)
        keep = (cols >= 0) & history.rated()  # a dislike is no evidence of watching its kind
        row = csr_matrix((history.ratings[keep].astype(np.float32), cols[keep], np.array([0, int(keep.sum())])),
                         shape=(1, self.inter.n_items))
        row.sum_duplicates()  # a movie rated twice counts as the sum, as a COO-built row did
        return row

    def candidate_columns(self, feats: np.ndarray, history: History) -> np.ndarray:
        """The columns worth ranking for ``history`` given its :meth:`features`: each collaborative model's top
        :attr:`candidates`, the :attr:`era_candidates` most popular around the history's date, plus, among movies
        with no collaborative evidence, each content signal's top :data:`COLD_CANDIDATES` (content alone where
        nothing is collaborative)."""
        seen = self._seen_mask(history)
        pool: list[np.ndarray] = []

        def top(col: np.ndarray, among: np.ndarray, n: int) -> np.ndarray:
            ok = among & ~np.isnan(col)
            idx = np.flatnonzero(ok)
            if len(idx) > n:
                idx = idx[np.argpartition(-col[idx], n - 1)[:n]]
            return idx

        for signal in COLLABORATIVE:
            pool.append(top(feats[:, _COL[signal]], ~seen, self.candidates))
        if self.era_candidates:
            undated = self._undated(history)
            for era in (["popularity"] if undated else []) + (["era_popularity"] if self.dateless_weight < 1
                                                              or not undated else []):
                pool.append(top(feats[:, _COL[era]], ~seen, self.era_candidates))
        no_cf = np.isnan(feats[:, _COL["cf"]]) & np.isnan(feats[:, _COL["knn"]])
        for signal in COLD_POOL:
            pool.append(top(feats[:, _COL[signal]], no_cf & ~seen, COLD_CANDIDATES))
        if self.content_candidates:
            pool.append(top(feats[:, _COL["content_cf"]], ~no_cf & ~seen, self.content_candidates))
        pool.append(top(feats[:, _COL["tmdb_popularity"]], no_cf & ~seen, COLD_CANDIDATES // 2))
        if not any(len(p) for p in pool[: len(COLLABORATIVE)]):  # no ratings at all: content and popularity
            for signal in CONTENT_SIGNALS:
                pool.append(top(feats[:, _COL[signal]], ~seen, self.candidates))
            pool.append(top(feats[:, _COL["popularity"]], ~seen, self.candidates))
        return np.unique(np.concatenate(pool)).astype(np.int64)

    # ----- scoring --------------------------------------------------------------------------------------
    def score_history(self, history: History) -> np.ndarray:
        """A score for every column of the fitted item set (-inf outside the candidates, and for seen movies)."""
        feats = self.features(history, ranks=False)
        cand = self.candidate_columns(feats, history)
        self.add_ranks(feats, cand, history)
        scores = np.full(feats.shape[0], -np.inf, dtype=np.float32)
        if len(cand):
            scores[cand] = self.rank_columns(feats, cand, history)
        return scores

    def _undated(self, history: History | None) -> bool:
        """Whether ``history`` is ranked by :attr:`dateless_model`: it has no dates (the chat's, the API's likes)
        and the model learned a ranker for such histories."""
        return (getattr(self, "dateless_model", None) is not None and history is not None
                and not np.isfinite(np.asarray(history.timestamps, dtype=np.float64)).any())

    def _dated_share(self, history: History | None) -> float:
        """The share of a dated ``history`` the dateless ranker ranks (:data:`DATED_DATELESS`)."""
        least, share = getattr(self, "dated_dateless", (0, 0.0))  # a model pickled before it ranks by the era alone
        if not share or history is None or getattr(self, "dateless_model", None) is None:
            return 0.0
        return share if history.rated().sum() >= least else 0.0

    def rank_columns(self, feats: np.ndarray, cols: np.ndarray, history: History | None = None) -> np.ndarray:
        """Ranking scores of the given columns of a feature matrix (higher is better); ``history``, where given,
        says what share of them the ranker without the era ranks (:meth:`_undated`, :meth:`_dated_share`)."""
        content = [_COL[s] for s in CONTENT_SIGNALS]
        if self.model is None:
            return reciprocal_rank_fusion(feats[cols][:, [_COL["cf"], _COL["knn"], *content]]).astype(np.float32)
        out = np.zeros(len(cols), dtype=np.float64)
        cold = ~self._cf_known[cols]
        # trees give equal odds to many movies; the signals' own fused order settles those ties
        tie = reciprocal_rank_fusion(feats[cols][:, [_COL[c] for c in COLLABORATIVE] + content])
        tie = 1e-6 * tie / (tie.max() or 1.0)
        if (~cold).any():
            w = self.dateless_weight if self._undated(history) else self._dated_share(history)
            if w < 1:
                out[~cold] = (1 - w) * _odds(self.model, feats[cols[~cold]][:, self.active])
            if w > 0:
                out[~cold] += w * _odds(self.dateless_model, feats[cols[~cold]][:, self.dateless_active])
        if cold.any():
            # the cold ranker learned on movies others had rated, so its odds are optimistic for movies
            # nobody has rated yet; COLD_DISCOUNT keeps them from crowding out well-evidenced picks
            if self.cold_model is None:  # content RRF, kept below every movie the warm ranker scored
                rrf = reciprocal_rank_fusion(feats[cols[cold]][:, content])
                floor = float(out[~cold].min()) if (~cold).any() else 1.0
                raw = floor * rrf / (rrf.max() or 1.0)
            else:
                raw = _odds(self.cold_model, feats[cols[cold]][:, self.cold_active])
            out[cold] = COLD_DISCOUNT * raw
        return (out + tie).astype(np.float32)

    def score_users(self, user_ids: np.ndarray) -> np.ndarray:
        return np.vstack([self.score_history(self._histories[int(u)]) for u in user_ids])

    def fit(self, user_items: csr_matrix, show_progress: bool = False) -> None:  # pragma: no cover - protocol
        raise TypeError("FusionModel needs timestamps: call fit_frame(train_df, interactions)")
