"""The Python API: ``Recommender.open(store)`` then ``recommend``, ``similar``, ``search`` and ``rows``."""

from __future__ import annotations

import hashlib
import logging
import math
import os
import pickle
import time
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, TypeAlias

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process
from scipy.sparse import csr_matrix

from index.build import failpoint
from index.config import Settings, artifact_dir
from index.errors import CinefuseError, InputError, StoreError, TitleNotFound
from index.match import match_sentence
from index.query import GENRE_WORDS, ParsedQuery, Vocabulary, parse_query
from index.search import (
    By,
    SearchResult,
    check_query,
    encode_query,
    mentions_nothing,
    renown,
    search_request,
    search_text,
    shrunk_ratings,
    similar_movies,
    sparse_encoder_for,
    stored_signals,
)
from index.store import Filters, Hit, SignalQuery, VectorStore, open_store, passes
from index.titles import TitleIndex
from recommender.ranking.collaborative import single_threaded
from recommender.ranking.fusion import CONTENT_SIGNALS, FEATURES, FusionModel, History, ItemTable
from recommender.ranking.interactions import Interactions, loved_from_confidence
from recommender.ranking.profile import Interaction, interaction_weights
from recommender.ranking.recommendation import Answer, Recommendation

__all__ = ["Answer", "Recommendation", "Recommender"]

log = logging.getLogger(__name__)

#: how much a "best ..." steer weighs the rating against the ranker on a personal page (both standardised);
#: benchmarks/recommend_best.py, 60 odd user ids: the largest weight tried (0.5, 1, 2) that keeps half the page (1:
#: 58% kept, top-10 shrunk rating +0.23 on the even ids; 2 keeps 41%)
BEST_WEIGHT = 1.0
#: "less mainstream" means less widely seen for its time than the films liked (index.search.renown, 0 to 1), and
#: below this at most: the top 5% of a year (15 films of the 1990s' 300 a year here) are its blockbusters, so a
#: person who only named Toy Story does not get Shawshank, merely a hair less seen
MAINSTREAM_RENOWN = 0.95
RANKER_FILE = "ranker.pkl"
MIN_STARS, MAX_STARS = 0.5, 5.0
HistoryInput: TypeAlias = (Sequence[Interaction] | Mapping[str | int, float | bool] | Sequence[str | int] | pd.Series
                | pd.DataFrame | np.ndarray | None)


#: where the classes of a ranker.pkl pickled before ``recommender.ranking`` existed live now
MOVED_MODULES = {f"recommender.{name}": f"recommender.ranking.{name}" for name in
                 ("collaborative", "content_map", "fusion", "interactions", "metadata", "profile", "splits")}


class RankerUnpickler(pickle.Unpickler):
    """Reads a ranker.pkl, including one an earlier cinefuse wrote under the old module names, so an index
    built before the move keeps serving.

    Example:
        >>> import io
        >>> RankerUnpickler(io.BytesIO()).find_class("recommender.fusion", "FusionModel") is FusionModel
        True
    """

    def find_class(self, module: str, name: str) -> Any:
        return super().find_class(MOVED_MODULES.get(module, module), name)


def ranker_path(settings: Settings) -> Path:
    """Where the trained ranker lives: inside a local index, else in the index's artifact folder
    (:func:`index.config.artifact_dir`).

    Example:
        >>> ranker_path(Settings(store="/data/index")).as_posix()
        '/data/index/ranker.pkl'
    """
    return artifact_dir(settings) / RANKER_FILE


def train_ranker(ratings: pd.DataFrame, store: VectorStore, settings: Settings,
                 half_life_days: float | None = None, *, folder: Path | None = None) -> dict[str, Any]:
    """Fit the fusion model on every rating, write its ``cf`` vectors (:meth:`FusionModel.cf_vectors`: the ALS
    factors, and for movies nobody rated the content-mapped ones), and save it as ``ranker.pkl`` in ``folder``
    (default: the index's artifact folder). Returns what the index records about it: the file's SHA-256 (every
    serving process checks it), the ratings it learned from and when.

    Example:
        >>> # train_ranker(catalog.ratings, open_store("runs/index"), Settings(store="runs/index"))
    """
    failpoint("ranker")
    items = ItemTable.from_store(store)
    extra: dict[str, Any] = {} if half_life_days is None else {"half_life_days": half_life_days}
    model = FusionModel(items, ranker="gbdt", validation="A", **extra)
    inter = Interactions.from_ratings(ratings, item_ids=items.item_ids, weighting="confidence")
    model.fit_frame(ratings, inter)
    assert model.als is not None and model.inter is not None
    failpoint("cf")
    cf = model.cf_vectors()
    store.set_vectors("cf", {int(m): v for m, v in cf.items()})
    rated = np.flatnonzero(np.asarray((model.inter.matrix > 0).sum(axis=0)).ravel())
    path = (folder if folder is not None else artifact_dir(settings)) / RANKER_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    model.items = None  # type: ignore[assignment]  # rebuilt from the store on open
    with open(tmp, "wb") as fh:
        pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)
    model.items = items
    log.info("ranker trained on %d ratings; %d cf vectors written (%d mapped from content); saved to %s",
             len(ratings), len(cf), len(cf) - len(rated), path)
    return {"ranker": {"file": RANKER_FILE, "sha256": file_sha256(path), "ratings": int(len(ratings)),
                       "cf_vectors": int(len(cf)), "mapped_cf_vectors": int(len(cf) - len(rated)),
                       "trained_at": int(time.time())}}


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks.

    Example:
        >>> import tempfile; p = Path(tempfile.mkdtemp()) / "x"; _ = p.write_bytes(b"abc")
        >>> file_sha256(p)[:12]
        'ba7816bf8f01'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def as_history(history: HistoryInput, titles: TitleIndex) -> list[Interaction]:
    """Accept interactions, ``{title or id: rating or like}``, a list of liked titles or ids, or the same as a pandas
    Series, a DataFrame (``movieId`` and ``rating`` columns, as in ratings.csv) or a numpy array; every movie must be
    in the index and every rating a number from 0.5 to 5 (or True/False), else :class:`InputError` says which.

    Example:
        >>> t = TitleIndex({1: {"title": "Toy Story", "year": 1995}, 6: {"title": "Heat", "year": 1995}})
        >>> [(i.movie_id, i.rating, i.liked) for i in as_history({"toy story": 5, 6: False}, t)]
        [(1, 5.0, None), (6, None, False)]
        >>> as_history({"Heat": 6}, t)
        Traceback (most recent call last):
        ...
        index.errors.InputError: the rating of 'Heat' is 6: give 0.5 to 5 stars, or True (liked) / False (disliked)
    """
    if history is None:
        return []
    history = _from_frame(history)
    if isinstance(history, str | bytes):
        raise InputError(f"the history is the text {history!r}: pass a list of titles ([{history!r}]) or a mapping "
                         f"of titles to ratings ({{{history!r}: 5}})")
    if not isinstance(history, Mapping | Sequence):
        raise InputError(f"the history is a {type(history).__name__}: pass a list of titles, a mapping of titles "
                         "(or movieIds) to ratings or True/False, or Interaction records")
    if isinstance(history, Mapping):
        items: Iterable[tuple[Any, Any]] = history.items()
    elif history and all(isinstance(h, Interaction) for h in history):
        records = [h for h in history if isinstance(h, Interaction)]
        for h in records:
            _movie_id(h.movie_id, titles)
            if h.rating is not None:
                _rating(h.rating, f"movie {h.movie_id}")
        return records
    else:
        items = [(h, True) for h in history]
    out = []
    for key, value in items:
        movie_id = _movie_id(key, titles)
        if isinstance(value, bool | np.bool_):
            out.append(Interaction(movie_id, liked=bool(value)))
        else:
            out.append(Interaction(movie_id, rating=_rating(value, str(key))))
    return out


def _from_frame(history: Any) -> Any:
    """A pandas or numpy history as the plain one it stands for: a Series maps its index (titles or movieIds) to
    its values, a DataFrame's ``movieId`` (or ``movie_id``, or ``title``) column to its ``rating`` (or ``liked``)
    column (with a ``timestamp`` column, as in ratings.csv, dated :class:`Interaction` records), and a 1-D array
    lists liked movies.

    Example:
        >>> _from_frame(pd.DataFrame({"movieId": [6, 1], "rating": [5.0, 2.5]})), _from_frame(np.array([6, 1]))
        ({6: 5.0, 1: 2.5}, [6, 1])
    """
    if isinstance(history, pd.Series):
        return dict(zip(history.index.tolist(), history.tolist(), strict=True))
    if isinstance(history, np.ndarray):
        if history.ndim != 1:
            raise InputError(f"the history is a {history.ndim}-D array: pass a 1-D array of movieIds or titles")
        return history.tolist()
    if isinstance(history, pd.DataFrame):
        key = next((c for c in ("movieId", "movie_id", "title") if c in history.columns), None)
        value = next((c for c in ("rating", "liked") if c in history.columns), None)
        if key is None:
            raise InputError(f"the history DataFrame has columns {list(history.columns)}: give it a 'movieId' (or "
                             "'movie_id', or 'title') column, and a 'rating' (0.5-5) or 'liked' (True/False) one")
        people = next((history[c].nunique() for c in ("userId", "user_id") if c in history.columns), 1)
        if people > 1:
            raise InputError(f"the history DataFrame holds {people} people's ratings (its userId column): pass one "
                             "person's rows, e.g. ratings[ratings.userId == 1]")
        if value is None:
            return history[key].tolist()
        if value == "rating" and key != "title" and "timestamp" in history.columns:  # dated: recent ones weigh more
            ids = history[key].tolist()
            if all(isinstance(m, int) for m in ids):
                return [Interaction(m, rating=float(r), timestamp=float(t)) for m, r, t in
                        zip(ids, history["rating"].tolist(), history["timestamp"].tolist(), strict=True)]
        return dict(zip(history[key].tolist(), history[value].tolist(), strict=True))
    return history


def _movie_id(key: Any, titles: TitleIndex) -> int:
    """The movieId an id or a title names; ids must be in the index."""
    if isinstance(key, bool | np.bool_) or not isinstance(key, int | np.integer | str):
        raise InputError(f"{key!r} is not a title or a movieId: use a title ('Heat (1995)') or an int id (6)")
    if isinstance(key, str):
        try:
            return titles.resolve(key)
        except TitleNotFound as err:
            if key.strip().isdigit() and not titles.exact(key):
                raise TitleNotFound(f"no movie titled {key!r}; to give a movieId, pass the number {int(key)}, not "
                                    "text", err.candidates) from None
            raise
    if int(key) not in titles:
        raise InputError(f"no movie with id {int(key)} in this index; use a movieId from the catalog, or a title")
    return int(key)


def _rating(value: Any, what: str) -> float:
    try:
        stars = float(value) if isinstance(value, int | float | np.number | str) else math.nan
    except ValueError:
        stars = math.nan
    if not (MIN_STARS <= stars <= MAX_STARS):  # also false for NaN
        raise InputError(f"the rating of {what!r} is {value!r}: give 0.5 to 5 stars, or True (liked) / False "
                         "(disliked)")
    return stars


def check_filters(filters: Filters | None, genres: Collection[str]) -> Filters | None:
    """``filters`` unchanged if every genre it names is one of ``genres`` and its year and runtime ranges are not
    empty, else :class:`InputError` naming the field, the genre and the nearest known one (a misspelt genre would
    silently match nothing, or exclude nothing), or the two bounds.

    Example:
        >>> try:
        ...     check_filters(Filters(genres=["Comedyy"]), ["Comedy", "Drama"])
        ... except InputError as err:
        ...     print(err)
        Filters.genres: no genre 'Comedyy' here; did you mean 'Comedy'? The genres are Comedy, Drama
    """
    if filters is None:
        return None
    if not isinstance(filters, Filters):
        raise InputError(f"filters must be an index.store.Filters, got {type(filters).__name__}")
    for name in ("genres", "exclude_genres"):
        for genre in getattr(filters, name):
            if genre not in genres:
                near = process.extractOne(str(genre), list(genres), scorer=fuzz.WRatio)
                hint = f"; did you mean {near[0]!r}?" if near and near[1] >= 60 else "."
                raise InputError(f"Filters.{name}: no genre {genre!r} here{hint} The genres are "
                                 f"{', '.join(sorted(genres))}")
    for low, high in (("year_min", "year_max"), ("runtime_min", "runtime_max")):  # an empty range finds nothing
        lo, hi = getattr(filters, low), getattr(filters, high)
        if lo is not None and hi is not None and lo > hi:
            raise InputError(f"Filters.{low} ({lo}) is above Filters.{high} ({hi}): nothing can match; swap them")
    return filters


def check_count(value: Any, name: str = "k", most: int = 1000) -> int:
    """A whole number of results from 1 to ``most``, else :class:`InputError`.

    Example:
        >>> check_count(10)
        10
        >>> check_count(0)
        Traceback (most recent call last):
        ...
        index.errors.InputError: k must be a whole number from 1 to 1000, got 0
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer) or not 1 <= value <= most:
        raise InputError(f"{name} must be a whole number from 1 to {most}, got {value!r}")
    return int(value)


def mmr(scores: np.ndarray, vectors: np.ndarray, k: int, lam: float) -> list[int]:
    """Maximal marginal relevance: greedily pick ``argmax lam*score - (1-lam)*max similarity to picked``.

    ``scores`` are rescaled to [0, 1] first; ``lam=1`` is plain ranking.

    Example:
        >>> v = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> mmr(np.array([1.0, 0.9, 0.5]), v, k=2, lam=0.5)
        [0, 2]
    """
    if len(scores) == 0:
        return []
    s = (scores - scores.min()) / (np.ptp(scores) or 1.0)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = np.divide(vectors, norms, out=np.zeros_like(vectors, dtype=np.float64), where=norms > 0)
    picked: list[int] = [int(np.argmax(s))]
    max_sim = unit @ unit[picked[0]]
    while len(picked) < min(k, len(s)):
        gain = lam * s - (1 - lam) * max_sim
        gain[picked] = -np.inf
        nxt = int(np.argmax(gain))
        picked.append(nxt)
        max_sim = np.maximum(max_sim, unit @ unit[nxt])
    return picked


#: films of one franchise a page shows before every other candidate has (Harry Potter and the Sorcerer's Stone
#: gave six Harry Potter films and three of The Lord of the Rings on one page); benchmarks/franchise_cap.py
FRANCHISE_CAP = 2


def _names_franchise(filters: Filters | None) -> bool:
    """Whether ``filters`` ask for films of a franchise (then a page shows as many of them as it ranks)."""
    return any("collection" in m.keys for m in (filters.match if filters else []))


def over_cap(groups: Sequence[str | None], limit: int) -> np.ndarray:
    """For a ranked list, True at each item past the ``limit``-th of its group (a franchise); items of no group
    (None) never are.

    Example:
        >>> over_cap(["LOTR", "LOTR", None, "LOTR", "HP"], limit=2).tolist()
        [False, False, False, True, False]
    """
    seen: Counter[str] = Counter()
    out = np.zeros(len(groups), dtype=bool)
    for i, g in enumerate(groups):
        if g is not None:
            seen[g] += 1
            out[i] = seen[g] > limit
    return out


def steered(scores: np.ndarray, match: np.ndarray, weight: float = 1.0) -> np.ndarray:
    """Ranker scores plus ``weight`` times the text match, both standardised over the candidates; a movie
    with no text (NaN match) gets the average match, so it is neither lifted nor sunk.

    Example:
        >>> int(steered(np.array([0.9, 0.8, 0.1]), np.array([0.1, 0.6, np.nan])).argmax())
        1
    """
    def z(x: np.ndarray) -> np.ndarray:
        sd = np.nanstd(x)
        return (x - np.nanmean(x)) / (sd if sd > 0 else 1.0)

    if len(scores) == 0 or np.all(np.isnan(match)):
        return scores
    return z(scores) + weight * np.nan_to_num(z(match), nan=0.0)


class Recommender:
    """Recommendations, similar movies, text search and home-page rows over one built index.

    Example:
        >>> # rec = Recommender.open("runs/index")
        >>> # [r.title for r in rec.recommend({"Heat (1995)": 5, "Alien (1979)": 5, "Titanic (1997)": 1})]
    """

    def __init__(self, store: VectorStore, model: FusionModel, settings: Settings) -> None:
        self.store = store
        self.model = model
        self.items: ItemTable = model.items
        self.settings = settings
        self.payloads = store.payloads()
        self.titles = TitleIndex(self.payloads)
        self.signals = stored_signals(store)
        assert model.inter is not None
        self._columns = model.inter.item_ids
        self._col_of = model.inter.item_index
        self._column_order = np.argsort(self._columns)
        self._text_encoder: Any = None
        self._image_encoder: Any = None
        self._vocabulary: Vocabulary | None = None
        self._genres: set[str] | None = None
        self._renown_by_id: dict[int, float] | None = None
        self._sparse: Any = sparse_encoder_for(store)
        self.explainer: Any = None
        self._loved: tuple[csr_matrix, np.ndarray] | None = None  # built on the first explanation

    @classmethod
    def open(cls, store: str | os.PathLike[str] | VectorStore = "runs/index", *, settings: Settings | None = None
             ) -> Recommender:
        """Open a built index (path, server URL or an open store) and its trained ranker."""
        if isinstance(store, str | os.PathLike):
            settings = settings or Settings.load(store=str(store))
            vs = open_store(str(store), api_key=settings.api_key, collection=settings.collection,
                            timeout_s=settings.server_timeout_s)
        else:
            vs = store
            settings = settings or Settings.load(store=vs.location)
        if vs.schema() is None:
            vs.close()
            raise StoreError(f"no index at {settings.store}: build one first (cinefuse build --data DIR --store "
                             f"{settings.store})")
        path = ranker_path(settings)
        if not path.exists():
            vs.close()
            raise CinefuseError(f"no trained ranker at {path}: build the index with ratings "
                                "(cinefuse build --data DIR) to train it"
                                + ("; for a Qdrant server, point --artifacts (CINEFUSE_ARTIFACTS) at the folder the "
                                   "build wrote it to" if settings.is_server() else ""))
        schema = vs.schema()
        expected = (schema.info.get("ranker") or {}).get("sha256") if schema is not None else None
        if expected and file_sha256(path) != expected:
            vs.close()
            raise StoreError(f"the ranker at {path} was not trained for the index at {settings.store} (its SHA-256 "
                             "differs from the one the index records): point --artifacts at the folder the last "
                             "build of this index wrote, or build the index again")
        with open(path, "rb") as fh:
            model: FusionModel = RankerUnpickler(fh).load()  # our own file, written by train_ranker
        trained_on = len(getattr(model, "use", ()))
        if trained_on != len(FEATURES):
            vs.close()
            raise StoreError(f"the ranker at {path} was trained by an older cinefuse on {trained_on} features "
                             f"(this one ranks on {len(FEATURES)}): build the index again (cinefuse build --data "
                             f"DIR --store {settings.store})")
        model.items = ItemTable.from_store(vs, item_ids=None)
        return cls(vs, model, settings)

    @property
    def column_of(self) -> Mapping[int, int]:
        """Each rated movie's column in the ranker's matrices, by movie id."""
        return self._col_of

    def loved(self) -> tuple[csr_matrix, np.ndarray]:
        """Who loved what: the people x movies 0/1 matrix of ratings of 4 or more (columns as :attr:`column_of`)
        and how many people loved each movie, built on the first call (explanations' "people who loved X")."""
        if self._loved is None:
            assert self.model.inter is not None
            loved = loved_from_confidence(self.model.inter.matrix)
            self._loved = loved, np.asarray(loved.sum(axis=0)).ravel()
        return self._loved

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Recommender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- recommendations -------------------------------------------------------------------------------
    def history_of(self, user_id: int) -> list[Interaction]:
        """A MovieLens user's ratings as a history (the users the ranker was trained with)."""
        if isinstance(user_id, bool | np.bool_) or not isinstance(user_id, int | np.integer):
            raise InputError(f"user_id must be a MovieLens userId (a whole number), got {user_id!r}")
        h = self.model.histories.get(int(user_id))
        if h is None:
            raise CinefuseError(f"user {user_id} has no ratings in this index")
        return h.interactions()

    def ratings(self) -> pd.DataFrame:
        """The ratings the ranker learned from (``user_id, movie_id, rating, timestamp``), e.g. to evaluate on a
        sample of this index's users without the data folder.

        Example:
            >>> # rec.ratings().groupby("user_id").size().describe()
        """
        frames = [pd.DataFrame({"user_id": user, "movie_id": h.movie_ids, "rating": h.ratings,
                                "timestamp": h.timestamps}) for user, h in self.model.histories.items()]
        if not frames:
            return pd.DataFrame({"user_id": pd.Series(dtype=np.int64), "movie_id": pd.Series(dtype=np.int64),
                                 "rating": pd.Series(dtype=np.float32), "timestamp": pd.Series(dtype=np.float64)})
        return pd.concat(frames, ignore_index=True)

    def recommend(self, history: HistoryInput = None, *, user_id: int | None = None, k: int = 10,
                  filters: Filters | None = None, diversity: float | None = None, explore: bool = True,
                  explain: bool = False, steer: str | None = None, steer_weight: float = 1.5,
                  franchise_cap: int = FRANCHISE_CAP) -> list[Recommendation]:
        """The top ``k`` movies for a history (or a known ``user_id``): Qdrant candidates per named vector from
        the liked (positive) and disliked (negative) examples, ranked by the fusion model.

        ``diversity`` is the MMR trade-off λ (1 = pure relevance); ``explore`` fills the last slot with a
        well-matched but little-known pick. ``steer`` is a description ("darker", "a heist") that nudges the
        ranking towards movies whose overview or reviews read like it. No history gives cold-start picks
        (steered, when a ``steer`` text is given: then it is a text search). ``franchise_cap`` films of one
        franchise at most make the page before every other candidate has (0: no cap; a request that names a
        franchise has none).

        Example:
            >>> # rec.recommend({"Heat": 5, "Alien": 5, "Titanic": False}, k=10, diversity=0.7)
            >>> # rec.recommend({"Toy Story": True}, steer="darker")
        """
        filters = check_filters(filters, self.genres())
        k = check_count(k)
        if isinstance(franchise_cap, bool) or not isinstance(franchise_cap, int | np.integer) or franchise_cap < 0:
            raise InputError(f"franchise_cap is how many films of one franchise a page may show (0: any number), "
                             f"got {franchise_cap!r}")
        if diversity is not None and (isinstance(diversity, bool) or not isinstance(diversity, int | float)
                                      or not 0 < diversity <= 1):
            raise InputError(f"diversity is the MMR trade-off in (0, 1] (1 = pure relevance), got {diversity!r}")
        if steer is not None and not isinstance(steer, str):
            raise InputError(f"steer must be a description (text), got {type(steer).__name__}")
        steer = steer.strip() if steer else None
        if steer and self.mentions_nothing(steer):  # it steered the page by the nearest vectors to noise
            raise InputError(f"steer {steer!r} names nothing this catalogue knows, and no movie's text holds its "
                             "words; describe it another way (\"darker\", \"a heist\", \"from the 90s\")")
        items = self.history_of(user_id) if user_id is not None else as_history(history, self.titles)
        if not items:
            if steer:
                out = self.ask(steer, k=k, filters=filters).recommendations
            else:
                out = self.popular(k=k, filters=filters, diversity=0.7 if diversity is None else diversity)
        else:
            best, obscure, said = False, 0, steer
            if steer:  # "no horror", "from the 90s", "like Heat but darker": constraints filter, references count
                parsed = self.parse(steer)  # as liked, the rest of the words steer
                best = parsed.best  # "the best ones from the 80s": the well-rated among the person's picks
                obscure = parsed.obscure  # "something less mainstream": the less rated among them
                if parsed.newer or parsed.shorter:  # "but newer": than what they liked
                    liked = [*parsed.references, *(i.movie_id for i in items if i.sentiment() > 0)]
                    parsed = parsed.anchored([self.payloads.get(m, {}) for m in liked], self.vocabulary().newest_year)
                filters = _without_ids(parsed.filters().merged(filters), parsed.references)
                known = {i.movie_id for i in items}
                items = [*items, *(Interaction(m, liked=True) for m in parsed.references if m not in known)]
                steer, said = parsed.semantic or None, parsed.said or None
            query = encode_query(self.text_encoder(), steer) if steer else None
            feats, cand, scores = self._scored(items, filters, query)
            if query is not None:
                scores = steered(scores, self._text_match(query, cand), steer_weight)
            if best:
                scores = steered(scores, shrunk_ratings([self.payloads.get(int(m), {}) for m in cand]), BEST_WEIGHT)
            liked = [i.movie_id for i in items if i.sentiment() > 0]
            if obscure and liked:  # "less mainstream" than what they liked: less seen for its time, then the rest
                bound = self._mainstream_bound(liked, cap=obscure > 0)
                scores = scores + np.where(obscure * (self._renown(cand) - bound) < 0, 0.0, -1e6)
            # the gamble is a less mainstream pick, so a page asked to be more mainstream has none
            out = self._page(feats, cand, scores, k, diversity, explore and obscure >= 0, liked,
                             0 if _names_franchise(filters) else franchise_cap)
            for r in out:
                r.query = said if steer or obscure else None  # what the page leans towards, for its explanations
        if explain:
            self.explain(out, items)
        return out

    def _scored(self, items: list[Interaction], filters: Filters | None, text: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The person's feature matrix, their candidate movieIds from Qdrant (plus the movies whose text is
        closest to ``text``, when given), and the ranker's score of each."""
        with single_threaded():
            h = History.from_interactions(items)
            weights = interaction_weights(items, self.model.half_life_days)
            user = self.model.user_vector(h)
            feats = self.model.features(h, cf_vector=user, weights=weights, ranks=False)
            cand = self._candidates(weights, user, {int(m) for m in h.movie_ids}, filters, text)
            # the collaborative models' own top picks (item-kNN and EASE have no vectors in the store): the
            # ranker was trained to rerank exactly these, so scoring sees the pool evaluation measured
            extra = self._columns[self.model.candidate_columns(feats, h)]
            flt = filters or Filters()
            keep = [int(m) for m in extra if flt.is_empty() or passes(self.payloads.get(int(m), {}), flt, int(m))]
            cand = np.union1d(cand, np.array(keep, dtype=np.int64))
            return feats, cand, self._rank(feats, cand, h)

    def _page(self, feats: np.ndarray, cand: np.ndarray, scores: np.ndarray, k: int, diversity: float | None,
              explore: bool, liked: Sequence[int] = (), franchise_cap: int = 0) -> list[Recommendation]:
        """The best ``k`` of the scored candidates, MMR-diversified, with the exploration pick (less mainstream
        than the ``liked`` movies) last; at most ``franchise_cap`` films of one franchise before the others
        (0: no cap)."""
        order = np.argsort(-scores, kind="stable")
        if franchise_cap:  # a film past the cap only fills a page that would otherwise be short
            over = over_cap([self.payloads.get(int(m), {}).get("collection") or None for m in cand[order]],
                            franchise_cap)
            order = np.concatenate([order[~over], order[over][: max(0, k - int((~over).sum()))]])
        pool = cand[order][: max(4 * k, 40)]
        pool_scores = scores[order][: len(pool)]
        n_main = k - 1 if explore and k > 2 else k
        if diversity is not None and diversity < 1:
            picks = mmr(pool_scores, self._diversity_vectors(pool), n_main, diversity)
        else:
            picks = list(range(min(n_main, len(pool))))
        chosen = [int(pool[i]) for i in picks]
        out = [self._recommendation(c, float(pool_scores[i]), feats) for i, c in zip(picks, chosen, strict=True)]
        if explore and k > 2:
            taken = set(chosen)
            if franchise_cap:  # nor does the gamble add a film past the cap
                shown = Counter(self.payloads.get(m, {}).get("collection") or None for m in chosen)
                taken |= {int(m) for m in cand if (c := self.payloads.get(int(m), {}).get("collection"))
                          and shown[c] >= franchise_cap}
            pick = self._exploration_pick(cand, scores, taken, liked)
            if pick is not None:
                out.append(self._recommendation(pick[0], pick[1], feats, reason="exploration"))
            else:  # nothing fits a gamble (no content vectors, say): the next ranked pick keeps the page whole
                rest = [i for i in range(len(pool)) if int(pool[i]) not in set(chosen)]
                if rest:
                    out.append(self._recommendation(int(pool[rest[0]]), float(pool_scores[rest[0]]), feats))
        return out

    def _candidates(self, weights: Mapping[int, float], user: np.ndarray | None, seen: set[int],
                    filters: Filters | None, text: np.ndarray | None = None) -> np.ndarray:
        liked = [m for m, w in weights.items() if w > 0]
        disliked = [m for m, w in weights.items() if w < 0]
        base = filters or Filters()
        flt = replace(base, exclude_ids=sorted(seen | set(base.exclude_ids)))
        queries: list[SignalQuery] = []
        for signal in CONTENT_SIGNALS:
            if signal not in self.signals or signal not in self.items.vectors:
                continue
            vec = self.items.vectors[signal]
            pos = [vec[self.items.index[m]] for m in liked if m in self.items.index and vec[self.items.index[m]].any()]
            neg = [vec[self.items.index[m]] for m in disliked
                   if m in self.items.index and vec[self.items.index[m]].any()]
            if pos:
                queries.append(SignalQuery(signal, positives=pos[:20], negatives=neg[:20]))
        if user is not None and "cf" in self.signals:
            queries.append(SignalQuery("cf", vector=user))
        if text is not None:
            queries += [SignalQuery(s, vector=text) for s in ("overview", "reviews") if s in self.signals]
        hits = self.store.search_batch(queries, limit=self.model.candidates, filters=flt) if queries else []
        ids = {h.id for res in hits for h in res}
        if filters is None or filters.is_empty():  # the ranker may also lift well-liked movies no query reached
            ids |= {int(m) for m in self._columns[np.argsort(-self.model.popularity)[:30]]} - seen
        return np.array(sorted(i for i in ids if i in self._col_of), dtype=np.int64)

    def _text_match(self, query: np.ndarray, cand: np.ndarray) -> np.ndarray:
        """Cosine of each candidate's overview (else reviews) vector with ``query``; NaN where it has neither."""
        out = np.full(len(cand), np.nan)
        idx = np.array([self.items.index.get(int(m), -1) for m in cand])
        for signal in ("reviews", "overview"):  # overview wins where a movie has both
            vecs = self.items.vectors.get(signal)
            if vecs is None or vecs.shape[1] != len(query):
                continue
            has = np.flatnonzero((idx >= 0) & self.items.has(signal)[np.maximum(idx, 0)])
            out[has] = vecs[idx[has]] @ query
        return out

    def _cols(self, movie_ids: np.ndarray) -> np.ndarray:
        """The model's column of each movie id (all of them must be in the fitted item set)."""
        order = self._column_order
        return order[np.searchsorted(self._columns, movie_ids, sorter=order)].astype(np.int64)

    def _rank(self, feats: np.ndarray, cand: np.ndarray, history: History) -> np.ndarray:
        """The ranker's score of each candidate, after filling the rank features of just those columns."""
        cols = self._cols(cand)
        if len(cols) == 0:
            return np.zeros(0, dtype=np.float32)
        self.model.add_ranks(feats, cols, history)
        return self.model.rank_columns(feats, cols, history)

    def _recommendation(self, movie_id: int, score: float, feats: np.ndarray,
                        reason: Literal["ranked", "exploration"] = "ranked") -> Recommendation:
        row = feats[self._col_of[movie_id]]
        contributions = {f: round(float(row[j]), 3) for j, f in enumerate(FEATURES[:6]) if not np.isnan(row[j])}
        return Recommendation.from_payload(movie_id, self.payloads.get(movie_id, {}), score,
                                           contributions=contributions, reason=reason)

    def _diversity_vectors(self, movie_ids: np.ndarray) -> np.ndarray:
        idx = [self.items.index.get(int(m), 0) for m in movie_ids]
        parts = [self.items.genres[idx]]
        if "overview" in self.items.vectors:
            parts.append(self.items.vectors["overview"][idx])
        return np.hstack(parts)

    def _exploration_pick(self, cand: np.ndarray, scores: np.ndarray, taken: set[int],
                          liked: Sequence[int]) -> tuple[int, float] | None:
        """The best-scored candidate not ``taken`` that is less mainstream than the ``liked`` movies (the bound of
        "less mainstream"): a well-matched gamble. The best content match among the less-rated half of the
        candidates, as before, picked the same unrated movie for half the people (benchmarks/exploration.py)."""
        ok = (self._renown(cand) < self._mainstream_bound(liked)) & ~np.isin(cand, list(taken))
        if not ok.any():
            return None
        best = int(np.flatnonzero(ok)[np.argmax(scores[ok])])
        return int(cand[best]), float(scores[best])

    def _mainstream_bound(self, liked: Sequence[int], cap: bool = True) -> float:
        """The median renown of the liked movies, at most :data:`MAINSTREAM_RENOWN` when ``cap``: what a less
        mainstream pick stays below (and a more mainstream one above, uncapped)."""
        bound = float(np.median(self._renown(np.array(liked)))) if len(liked) else MAINSTREAM_RENOWN
        return min(bound, MAINSTREAM_RENOWN) if cap else bound

    def popular(self, k: int = 10, filters: Filters | None = None, diversity: float = 0.7,
                recent_years: int = 15) -> list[Recommendation]:
        """Cold start: well-liked recent movies (ratings count x mean), spread over genres with MMR.

        Example:
            >>> # rec.popular(k=10)
        """
        filters = check_filters(filters, self.genres())
        k = check_count(k)
        years = self.items.year
        newest = np.nanmax(years) if np.isfinite(years).any() else 0
        rows = []
        for mid, p in self.payloads.items():
            if filters is not None and not passes(p, filters, mid):
                continue
            year = p.get("year") or 0
            if year < newest - recent_years:
                continue
            rows.append((mid, np.log1p(p.get("rating_count") or 0) * ((p.get("rating_mean") or 3.0) / 5.0)))
        if not rows:
            return []
        rows.sort(key=lambda r: -r[1])
        pool = rows[: 5 * k]
        ids = np.array([r[0] for r in pool])
        picks = mmr(np.array([r[1] for r in pool]), self._diversity_vectors(ids), k, diversity)
        return [Recommendation.from_payload(int(ids[i]), self.payloads[int(ids[i])], float(pool[i][1]),
                                            reason="popular") for i in picks]

    def rows(self, history: HistoryInput = None, *, user_id: int | None = None, k: int = 10,
             anchors: int = 2, filters: Filters | None = None,
             because: Sequence[str | int] | None = None) -> dict[str, list[Recommendation]]:
        """Home-page rows: "Top picks for you", "Because you liked X" (per anchor), "Trending now", "Hidden gems"
        (the least widely seen for their time, by predicted score and rating, as "hidden gems" in the chat). Like a
        streaming home page, a movie appears in at most one row (the first that wants it), none is one the history
        already judged, and every row honours ``filters``.

        ``because`` names the movies a "Because you liked" row may be about (titles or movieIds the person said
        they liked, first ones first; at most ``anchors`` rows); by default the history's strongest positives.
        An empty ``because`` gives no such rows.

        Example:
            >>> # list(rec.rows({"Heat": 5, "Alien": 5}, filters=Filters(exclude_genres=["Horror"])))
        """
        filters = check_filters(filters, self.genres())
        k = check_count(k)
        anchors = check_count(anchors, "anchors", most=20)
        items = self.history_of(user_id) if user_id is not None else as_history(history, self.titles)
        flt = filters if filters is not None and not filters.is_empty() else None
        used = {i.movie_id for i in items}

        def unused() -> Filters:
            return replace(flt or Filters(), exclude_ids=sorted(used | set((flt or Filters()).exclude_ids)))

        def take(name: str, recs: list[Recommendation]) -> None:
            recs = [r for r in recs if r.movie_id not in used][:k]
            if recs:
                out[name] = recs
                used.update(r.movie_id for r in recs)

        out: dict[str, list[Recommendation]] = {}
        if items:
            feats, cand, scores = self._scored(items, flt)  # one scoring serves top picks and hidden gems
            take("Top picks for you", self._page(feats, cand, scores, k, diversity=0.8, explore=True,
                                                 franchise_cap=0 if _names_franchise(flt) else FRANCHISE_CAP))
            if because is None:
                weights = interaction_weights(items, self.model.half_life_days)
                chosen = [m for m, w in sorted(weights.items(), key=lambda kv: -kv[1]) if w > 0][:anchors]
            else:
                chosen = list(dict.fromkeys(_movie_id(b, self.titles) for b in because))[:anchors]
            for anchor in chosen:
                title = self.payloads.get(anchor, {}).get("display_title", str(anchor))
                take(f"Because you liked {title}", self.similar(anchor, k=k, filters=unused()))
        trending = self.popular(k=k, recent_years=5, diversity=0.9, filters=unused())
        if len(trending) < k:  # few recent films pass the rules: the most-watched of any year fill the row
            shown = {r.movie_id for r in trending}
            trending += [r for r in self.popular(k=k, recent_years=10_000, diversity=0.9, filters=unused())
                         if r.movie_id not in shown][: k - len(trending)]
        take("Trending now", trending)
        if items and len(cand):  # the least widely seen for their time (all-time counts took 2018's blockbusters)
            seen = self._renown(cand)
            gems = np.flatnonzero((seen <= np.quantile(seen, 0.3)) & ~np.isin(cand, list(used)))
            good = steered(scores[gems], shrunk_ratings([self.payloads.get(int(m), {}) for m in cand[gems]]),
                           BEST_WEIGHT)  # a gem is also good: Child's Play 3 is little seen, not a gem
            gems = gems[np.argsort(-good)][:k]
            take("Hidden gems", [self._recommendation(int(cand[i]), float(scores[i]), feats) for i in gems])
        return out

    # ----- similar and search ---------------------------------------------------------------------------
    def resolve(self, title: str | int) -> int:
        """A movieId from a title (forgiving case, articles and a missing year) or an id in the index."""
        return _movie_id(title, self.titles)

    def similar(self, title: str | int, by: By = "fused", k: int = 10,
                filters: Filters | None = None) -> list[Recommendation]:
        """Movies like one movie, by one signal or fused.

        Example:
            >>> # rec.similar("Toy Story (1995)", by="overview")
        """
        filters = check_filters(filters, self.genres())
        hits = similar_movies(self.resolve(title), self.store, by=by, filters=filters, limit=check_count(k))
        return [self._from_hit(h, "similar") for h in hits]

    def _renown(self, movie_ids: np.ndarray) -> np.ndarray:
        """Each movie's :func:`~index.search.renown` among the whole catalogue's (computed on first use)."""
        if self._renown_by_id is None:
            ids = list(self.payloads)
            self._renown_by_id = dict(zip(ids, renown([self.payloads[m] for m in ids]).tolist(), strict=True))
        return np.array([self._renown_by_id.get(int(m), 0.0) for m in movie_ids])

    def genres(self) -> set[str]:
        """The genres a filter may name: every genre of this catalogue and MovieLens' own.

        Example:
            >>> # "Comedy" in rec.genres()
        """
        if self._genres is None:
            self._genres = {str(g) for p in self.payloads.values() for g in p.get("genres") or []} | set(
                GENRE_WORDS.values())
        return self._genres

    def vocabulary(self) -> Vocabulary:
        """Every name this index knows (people, studios, franchises, keywords...), built on first use."""
        if self._vocabulary is None:
            self._vocabulary = Vocabulary.from_payloads(self.payloads, titles=self.titles)
        return self._vocabulary

    def parse(self, text: str) -> ParsedQuery:
        """What a request asks for, read against this index's vocabularies (the parser chat and search share).

        Example:
            >>> # rec.parse("Pixar movies from the 90s").describe()  # 'from Pixar Animation Studios, from the 1990s'
        """
        return parse_query(check_query(text), self.vocabulary())

    def mentions_nothing(self, text: str) -> bool:
        """Whether a request names nothing the parser knows and no movie's document holds any of its words
        ("asdkjh qwe"): searching or steering by it would only give noise.

        Example:
            >>> # rec.mentions_nothing("asdkjh qwe"), rec.mentions_nothing("a heist")  ->  (True, False)
        """
        return mentions_nothing(self.parse(text), text, self.store, self._sparse)

    def ask(self, text: str, k: int = 10, filters: Filters | None = None, query: ParsedQuery | None = None
            ) -> Answer:
        """A request in words ("Christopher Nolan films", "90s comedies like Notting Hill", "a heist that goes
        wrong"): the parser's constraints filter inside Qdrant, its topics boost, the rest is searched by meaning
        (dense and BM25 vectors fused). Few matching movies give only those, with a note saying so; each
        recommendation carries its ``match`` facts and a sentence from them as its explanation.

        Example:
            >>> # rec.ask("Christopher Nolan films").notes
        """
        filters = check_filters(filters, self.genres())
        k = check_count(k)
        text = check_query(text)
        self._load_search_encoders("fused")
        result: SearchResult = search_request(text, self.store, self._text_encoder, self.vocabulary(),
                                              sparse=self._sparse, image_encoder=self._image_encoder,
                                              filters=filters, limit=k, query=query)
        recs = []
        for hit in result.hits:
            rec = self._from_hit(hit, "search")
            rec.query = text
            rec.match = result.matches.get(hit.id, {})
            rec.explanation = match_sentence(rec.match) or None
            recs.append(rec)
        return Answer(recs, result.query, result.total, result.notes)

    def search(self, text: str, k: int = 10, by: By = "fused", filters: Filters | None = None
               ) -> list[Recommendation]:
        """Movies matching a request. ``by="fused"`` reads it with the query parser (see :meth:`ask`); one
        signal (``overview``, ``reviews``, ``poster``) searches that vector alone with the whole text.

        Example:
            >>> # rec.search("a heist that goes wrong")
        """
        filters = check_filters(filters, self.genres())
        k = check_count(k)
        text = check_query(text)
        if by == "fused":
            return self.ask(text, k=k, filters=filters).recommendations
        self._load_search_encoders(by)
        hits = search_text(text, self.store, self._text_encoder, self._image_encoder, by=by, filters=filters,
                           limit=k)
        out = [self._from_hit(h, "search") for h in hits]
        for r in out:
            r.query = text
        return out

    def _load_search_encoders(self, by: By) -> None:
        self.text_encoder()
        if self._image_encoder is None and "poster" in self.signals and by in ("fused", "poster"):
            from encoders.image import load_image_encoder

            info = (self.store.schema() or _no_schema(self.store)).info.get("settings", {})
            self._image_encoder = load_image_encoder(
                info.get("image_model", self.settings.image_model), info.get("image_pretrained"),
                allow_untrained=bool(info.get("allow_untrained_image_model")), device=self.settings.device)

    def text_encoder(self) -> Any:
        """The text model this index was built with, loaded on first use."""
        if self._text_encoder is None:
            from encoders.text import load_text_encoder

            schema = self.store.schema()
            built = (schema.info.get("settings", {}) if schema else {}).get("text_model", self.settings.text_model)
            self._text_encoder = load_text_encoder(built, device=self.settings.device)
        return self._text_encoder

    def _from_hit(self, hit: Hit, reason: Literal["similar", "search"]) -> Recommendation:
        return Recommendation.from_payload(hit.id, hit.payload or self.payloads.get(hit.id, {}), hit.score,
                                           reason=reason)

    # ----- explanations ---------------------------------------------------------------------------------
    def explain(self, recs: list[Recommendation], history: list[Interaction]) -> list[Recommendation]:
        """Fill ``explanation`` (and ``evidence``) on each recommendation; templates unless a model is loaded."""
        from recommender.explain.service import explain_page

        return explain_page(self, recs, history)


def _without_ids(filters: Filters, ids: Sequence[int]) -> Filters:
    """``filters`` minus the referenced movies' own exclusion: in a page they are already history, so unseen."""
    return replace(filters, exclude_ids=[m for m in filters.exclude_ids if m not in set(ids)])


def _no_schema(store: VectorStore) -> Any:
    raise StoreError(f"no index at {store.location}: build one first (cinefuse build --data DIR)")
