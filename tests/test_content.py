"""Content that changes the recommendations, on the tiny catalog with metadata (three films nobody has rated):
a director's unrated film reaches a person who liked two of theirs, the content-to-collaborative map puts an
unrated sequel beside its rated predecessor, and protocol C's people never leak into training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from index.config import Settings
from recommender.api import Recommender
from recommender.evaluation.experiments import (
    NO_DATES,
    WITHOUT_CONTENT,
    evaluate_new_people,
    items_with_training_tags,
    write_report,
)
from recommender.ranking.content_map import ContentMap, mapped_factors
from recommender.ranking.fusion import FEATURES, FusionModel, History, ItemTable
from recommender.ranking.interactions import Interactions
from recommender.ranking.metadata import metadata_scores, tfidf_rows
from recommender.ranking.profile import Interaction
from recommender.ranking.tables import content_features
from tests.tiny_catalog import NO_METADATA, SAME_DIRECTOR, SEQUEL, build_tiny_index, director_of, group_of, tiny_catalog


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return build_tiny_index(tmp_path_factory.mktemp("tiny-metadata"), tiny_catalog(metadata=True))


@pytest.fixture(scope="module")
def rec(tiny_index: Settings) -> Recommender:
    r = Recommender.open(tiny_index.store)
    yield r
    r.close()


def test_liked_two_films_by_a_director_brings_their_unrated_film(rec: Recommender) -> None:
    assert director_of(25) == director_of(26) == rec.payloads[SAME_DIRECTOR]["directors"][0]
    assert rec.payloads[SAME_DIRECTOR]["rating_count"] == 0 and not rec.payloads[SAME_DIRECTOR]["overview"]
    history = [Interaction(25, rating=5.0), Interaction(26, rating=5.0)]
    feats, cand, scores = rec._scored(history, None)
    score = dict(zip(cand.tolist(), scores.tolist(), strict=True))
    # nobody rated it and it has no plot, yet the director's metadata reaches it...
    assert SAME_DIRECTOR in score
    # ...and lifts it above its twin: same genres, year and popularity, no director, no ratings either
    assert score[SAME_DIRECTOR] > score[NO_METADATA] * 1.2


def test_the_director_feature_is_what_lifts_the_film(rec: Recommender) -> None:
    history = History.from_interactions([Interaction(25, rating=5.0), Interaction(26, rating=5.0)])
    feats = rec.model.features(history)
    col = rec.model.inter.item_index
    people = feats[:, FEATURES.index("meta_people")]
    assert people[col[SAME_DIRECTOR]] > 0.5 and np.isnan(people[col[NO_METADATA]])
    scores = rec.model.score_history(history)
    assert scores[col[SAME_DIRECTOR]] > scores[col[NO_METADATA]]


def test_unrated_movies_get_mapped_cf_vectors_near_their_relatives(rec: Recommender) -> None:
    rated = list(range(1, 31))
    vectors = rec.store.vectors([*rated, SEQUEL, SAME_DIRECTOR], ["cf"])
    assert SEQUEL in vectors and "cf" in vectors[SEQUEL]  # written by train_ranker, though nobody rated it
    factors = np.array([vectors[m]["cf"] for m in rated])
    sequel = vectors[SEQUEL]["cf"]
    cosine = factors @ sequel / (np.linalg.norm(factors, axis=1) * np.linalg.norm(sequel))
    nearest = [rated[i] for i in np.argsort(-cosine)[:5]]
    # the tiny catalog's ALS factors of one group are nearly parallel (cosine ~0.98), and the deployed map's
    # penalty (chosen on 9k movies) pulls a new movie towards its group: its predecessor is among its 5 nearest
    # (the next test shows the map alone, with a penalty fit for 30 movies, finds the predecessor itself)
    assert 21 in nearest and {group_of(m) for m in nearest} == {"heist"}
    director = vectors[SAME_DIRECTOR]["cf"]
    cosine = factors @ director / (np.linalg.norm(factors, axis=1) * np.linalg.norm(director))
    assert group_of(rated[int(np.argmax(cosine))]) == "heist"


def test_content_map_places_the_sequel_by_its_content_alone() -> None:
    catalog = tiny_catalog(metadata=True)
    payloads = {m.movie_id: {"genres": m.genres, "year": m.year, "directors": m.directors, "cast": m.cast,
                             "companies": m.companies, "keywords": m.keywords, "collection": m.collection}
                for m in catalog.movies.values()}
    items = ItemTable.from_payloads(payloads, {})
    model = FusionModel(items, ranker="rrf", content_map=ContentMap("ridge", alpha=0.3))  # 30 movies to learn from
    ids = np.array(sorted(catalog.movies))
    model._fit_base(catalog.ratings, ids)
    assert model._mapped is not None
    factors = model.als.item_factors  # type: ignore[union-attr]
    sequel = model._mapped[model.inter.item_index[SEQUEL]]  # type: ignore[union-attr]
    rated = np.arange(30)
    cosine = factors[rated] @ sequel / (np.linalg.norm(factors[rated], axis=1) * np.linalg.norm(sequel))
    assert ids[rated[int(np.argmax(cosine))]] == 21


def test_mapped_vectors_of_rated_movies_are_out_of_fold() -> None:
    x = np.eye(6, dtype=np.float32)  # every movie its own feature: nothing to learn from the others
    y = np.arange(12, dtype=np.float32).reshape(6, 2) + 1
    out = mapped_factors(x, y, np.ones(6, bool), ContentMap(alpha=1e-3), folds=3)
    # a map that had seen a movie would give back its factors; out of fold it can only give the others' mean
    assert not np.allclose(out, y, atol=0.5)
    full = ContentMap(alpha=1e-3).fit(x, y).predict(x)
    assert np.allclose(full, y, atol=0.05)


def test_content_features_and_metadata_scores() -> None:
    items = ItemTable.from_payloads({1: {"directors": ["A"], "year": 1990, "genres": ["Crime"]},
                                     2: {"directors": ["A"], "keywords": ["heist"], "genres": ["Crime"]},
                                     3: {"keywords": ["heist"]}, 4: {}}, {})
    x = content_features(items)
    assert x.shape[0] == 4 and np.isfinite(x).all() and not x[3, :-4].any()
    rows = items.metadata("meta_people")
    scores = metadata_scores(rows, {0: 1.0})
    assert scores[1] == pytest.approx(1.0) and np.isnan(scores[2]) and np.isnan(scores[3])
    assert tfidf_rows([["a"], ["b"]]).shape == (2, 0)  # no token shared by two movies: nothing to compare


def test_evaluation_tags_come_only_from_training() -> None:
    items = ItemTable.from_payloads({1: {"tags": ["leaky"]}, 2: {}, 3: {}}, {})
    tags = pd.DataFrame({"user_id": [7, 8, 9], "movie_id": [1, 2, 3], "tag": ["test pair", "held person", "ok"]})
    test = pd.DataFrame({"user_id": [7], "movie_id": [1]})
    out = items_with_training_tags(items, tags, exclude_pairs=test, exclude_users=[8])
    assert out.tokens["tags"] == [[], [], ["tag=ok"]]
    assert items.tokens["tags"] == [["tag=leaky"], [], []]  # the original table is untouched


def test_protocol_c_on_the_tiny_catalog(tmp_path: Path) -> None:
    catalog = tiny_catalog(metadata=True)
    payloads = {m.movie_id: {"genres": m.genres, "year": m.year, "directors": m.directors,
                             "keywords": m.keywords} for m in catalog.movies.values()}
    items = ItemTable.from_payloads(payloads, {})
    frame = evaluate_new_people(catalog.ratings, items, sizes=(1, 3), frac=0.3,
                                only=["popularity", "EASE", "fusion (trained ranker)", WITHOUT_CONTENT])
    assert set(frame.index.get_level_values("n")) == {1, 3}
    assert (frame["people"] == frame["people"].iloc[0]).all() and frame["people"].iloc[0] >= 10
    ndcg = frame["ndcg@10"]
    # three liked films of one group: the fusion finds the rest of the group, popularity cannot
    assert ndcg[("fusion (trained ranker)", 3)] > ndcg[("popularity", 3)] + 0.2
    paired = frame.attrs["paired"][3]
    assert set(paired) == {"popularity", "EASE", WITHOUT_CONTENT, NO_DATES}  # the same people without dates too
    assert ndcg[(NO_DATES, 3)] > ndcg[("popularity", 3)]
    text = write_report({"C": frame}, None, tmp_path, "tiny")
    assert "## Protocol C: new people" in text and "| n=3 |" not in text
    assert "likes without dates | ratio | minus the baseline |" in text
    ablation = text.split("## What content adds")[1]
    assert "| C, n=1 | nDCG@10 |" in ablation and "| C, n=3 | nDCG@10 |" in ablation
    assert json.loads((tmp_path / "results.json").read_text())["C"]["fusion_minus_model_ndcg@10"]["3"]["EASE"]
    pooled = evaluate_new_people(catalog.ratings, items, sizes=(1, 3), frac=0.3, folds=3,
                                 only=["popularity", "EASE"])
    assert pooled.attrs["folds"] == 3 and pooled.attrs["people"] > frame.attrs["people"]
    assert pooled["people"].iloc[0] > frame["people"].iloc[0]  # three disjoint hold-outs pool their people


def test_few_shot_folds_draw_pseudo_new_people_from_training_only() -> None:
    catalog = tiny_catalog()
    ratings = catalog.ratings
    train = ratings[ratings["user_id"] <= 45]
    items = ItemTable.from_payloads({m: {"genres": catalog.movies[m].genres} for m in catalog.movies}, {})
    model = FusionModel(items, validation="A", ease_l2=None, few_shot_folds=1, content_map=None)
    folds = list(model._validation_folds(train, np.arange(1, 31)))
    few = [f for f in folds if f.histories is not None]
    assert len(few) == 1
    fold = few[0]
    past_users = set(fold.past["user_id"])
    assert past_users <= set(train["user_id"])
    # each pseudo-new person's history holds only their own liked movies, and none of them is in past
    pseudo = {int(u) for u in train["user_id"]} - past_users
    assert pseudo and past_users.isdisjoint(pseudo)
    assert fold.owners is not None and set(fold.owners.values()) <= pseudo
    for key, history in fold.histories.items():  # type: ignore[union-attr]
        own = train[train["user_id"] == fold.owners[key]]
        assert set(history.movie_ids.tolist()) <= set(own.loc[own["rating"] >= 4.0, "movie_id"])
        assert len(history.movie_ids) in (1, 3, 5)
        future = fold.future[fold.future["user_id"] == key]
        assert set(future["movie_id"]) == set(own["movie_id"]) - set(history.movie_ids.tolist())
    assert set(Interactions.from_ratings(fold.past, item_ids=np.arange(1, 31)).user_ids.tolist()).isdisjoint(pseudo)
