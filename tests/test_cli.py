"""The command line end to end on a small real subset of ../shared/data, written as a data folder."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from app import cli

ANCHORS = [6, 2571, 296, 858, 1221, 47, 50, 2959, 1089, 1213, 4993, 260, 1196, 480, 1270]


def write_subset(src: Path, dest: Path, n_other: int = 90, n_reviews: int = 40) -> list[int]:
    ml = src / "ml-latest-small"
    movies = pd.read_csv(ml / "movies.csv")
    links = pd.read_csv(ml / "links.csv", dtype={"imdbId": str})
    with gzip.open(src / "tmdb" / "tmdb_api_movies.jsonl.gz", "rt") as fh:
        tmdb = {json.loads(line)["id"]: line for line in fh}
    meta = pd.read_csv(src / "tmdb" / "movies_metadata.csv", dtype=str, keep_default_na=False)
    with_overview = set(tmdb) | {int(float(i)) for i in meta["id"] if i.replace(".", "", 1).isdigit()}
    described = links[links["tmdbId"].isin(list(with_overview))]
    genres = movies.set_index("movieId")["genres"]
    animated = [m for m in described["movieId"] if "Animation" in genres[m] and "Children" in genres[m]][:15]
    others = [m for m in described["movieId"] if m not in animated + ANCHORS][:n_other]
    ids = animated + [m for m in ANCHORS if m in set(movies["movieId"])] + others
    out = dest / "ml-latest-small"
    out.mkdir(parents=True)
    movies[movies["movieId"].isin(ids)].to_csv(out / "movies.csv", index=False)
    sub_links = links[links["movieId"].isin(ids)]
    sub_links.to_csv(out / "links.csv", index=False)
    ratings = pd.read_csv(ml / "ratings.csv")
    ratings[ratings["movieId"].isin(ids)].to_csv(out / "ratings.csv", index=False)
    (dest / "tmdb").mkdir()
    with gzip.open(dest / "tmdb" / "tmdb_api_movies.jsonl.gz", "wt") as fh:
        for tid in sub_links["tmdbId"].dropna().astype(int):
            if tid in tmdb:
                fh.write(tmdb[tid])
    wanted_tmdb = {f"{t:.1f}" for t in sub_links["tmdbId"].dropna()}
    meta[meta["id"].isin(wanted_tmdb)].to_csv(dest / "tmdb" / "movies_metadata.csv", index=False)
    reviews = pd.read_csv(src / "reviews" / "reviews.csv")
    wanted = {"tt" + i for i in sub_links["imdbId"]}
    sub_reviews = reviews[reviews["imdbId"].isin(wanted)]
    keep = list(dict.fromkeys(sub_reviews["imdbId"]))[:n_reviews]
    (dest / "reviews").mkdir()
    sub_reviews[sub_reviews["imdbId"].isin(keep)].groupby("imdbId").head(3).to_csv(dest / "reviews" / "reviews.csv",
                                                                                   index=False)
    (dest / "posters" / "images").mkdir(parents=True)
    for mid in ids[:20]:
        poster = src / "posters" / "images" / f"{mid}.jpg"
        if poster.exists():
            shutil.copy(poster, dest / "posters" / "images" / poster.name)
    return ids


@pytest.fixture(scope="module")
def built_store(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    root = tmp_path_factory.mktemp("cli")
    write_subset(shared_data, root / "data")
    store = root / "index"
    mp = pytest.MonkeyPatch()
    mp.setenv("CINEFUSE_CACHE_DIR", str(root / "cache"))
    mp.setenv("CINEFUSE_REVIEW_CHUNKS_PER_MOVIE", "2")
    try:
        code = cli.main(["build", "--data", str(root / "data"), "--store", str(store), "--no-posters", "-q"])
    finally:
        mp.undo()
    assert code == 0
    return store


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict]:
    capsys.readouterr()
    assert cli.main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_build_summary_and_similar_toy_story_by_overview(built_store: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    rows = run_json(capsys, "similar", "Toy Story (1995)", "--by", "overview", "--store", str(built_store))
    top = rows[:5]  # 15 of the 120 movies are animated: three in the top five is far above chance
    assert "Animation" in top[0]["genres"] and sum("Animation" in r["genres"] for r in top) >= 3, top
    assert "Toy Story (1995)" not in [r["title"] for r in rows]


def test_title_lookup_forgives_case_articles_and_year(built_store: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    for spelling in ("toy story", "TOY STORY (1995)", "matrix, the", "the matrix"):
        assert run_json(capsys, "similar", spelling, "--store", str(built_store), "--limit", "3")


def test_search_and_filters(built_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = run_json(capsys, "search", "a heist that goes wrong", "--store", str(built_store), "--limit", "5")
    assert len(rows) == 5 and any("Crime" in r["genres"] for r in rows[:3]), rows
    rows = run_json(capsys, "similar", "Heat", "--by", "reviews", "--genre", "Crime", "--year", "1990-1999",
                    "--store", str(built_store))
    assert rows and all("Crime" in r["genres"] and "(199" in r["title"] for r in rows)


def test_unknown_title_says_did_you_mean(built_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert cli.main(["similar", "Toy Storie", "--store", str(built_store)]) in (0, 3)
    assert cli.main(["similar", "Completely Unknown Movie Title", "--store", str(built_store)]) == 3
    assert "did you mean" in capsys.readouterr().err


def test_missing_index_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["search", "anything", "--store", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cinefuse: no index at") and "cinefuse build" in err and "\n" not in err


def test_no_data_and_no_network_says_so_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "DEFAULT_HOME", tmp_path)
    monkeypatch.setenv("CINEFUSE_MOVIELENS_URL", "http://127.0.0.1:9/movielens")  # nothing listens there
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["build", "--store", str(tmp_path / "index")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == cli.NO_DATA
