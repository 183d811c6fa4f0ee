"""Joining sources into Movies: a tiny data folder whose right answers are known, then the real data."""

from __future__ import annotations

import csv
import gzip
import json
import logging
import time
from pathlib import Path

import pytest

from index.catalog import Catalog, build_catalog, catalog_from_data_dir, find_movielens_dir, select_reviews
from index.errors import CatalogError
from index.sources import load_movielens, load_posters, load_reviews, load_tmdb_jsonl


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_latest_small(folder: Path) -> Path:
    write(folder / "movies.csv", "movieId,title,genres\n"
                                 "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n"
                                 '2,"Matrix, The (1999)",Action|Sci-Fi|Thriller\n'
                                 '3,"City of Lost Children, The (Cité des enfants perdus, La) (1995)",Drama\n'
                                 "4,Babylon 5,(no genres listed)\n")
    write(folder / "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,2,5.0,964981247\n"
                                  "2,1,3.5,1445714994\n2,3,0.5,1445714996\n")
    write(folder / "links.csv", "movieId,imdbId,tmdbId\n1,0114709,862\n2,0133093,603\n3,0112682,902\n"
                                "4,0105946,\n")
    write(folder / "tags.csv", "userId,movieId,tag,timestamp\n2,1,pixar,1445714994\n3,1,Pixar,1445714995\n"
                               '3,1,fun,1445714996\n2,2,"cyberpunk, dystopia",1445714997\n')
    return folder


METADATA_HEADER = ["id", "imdb_id", "title", "overview", "tagline", "popularity", "release_date", "vote_average",
                   "vote_count"]


def metadata_row(**values: str) -> list[str]:
    return [values.get(name, "") for name in METADATA_HEADER]


def write_metadata(path: Path, rows: list[list[str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([METADATA_HEADER, *rows])


def touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8\xff")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Four movies: Toy Story (TMDB API + metadata), The Matrix (metadata only), City of Lost Children
    (nothing), Babylon 5 (metadata with a release date, no MovieLens year)."""
    root = tmp_path / "data"
    write_latest_small(root / "ml-latest-small")
    api = [{"id": 862, "imdb_id": "tt0114709", "title": "Toy Story", "overview": "Led by Woody, Andy's toys...",
            "tagline": "", "keywords": [{"name": "toy"}], "popularity": 52.6, "vote_count": 6995,
            "credits": {"cast": [{"name": "Tom Hanks", "order": 0}], "crew": [{"job": "Director",
                                                                               "name": "John Lasseter"}]},
            "reviews": {"results": [{"content": "A  CLASSIC."}, {"content": "Short."}]}}]
    (root / "tmdb").mkdir(parents=True)
    (root / "tmdb" / "tmdb_api_movies.jsonl.gz").write_bytes(gzip.compress(
        "\n".join(json.dumps(o) for o in api).encode()))
    write_metadata(root / "tmdb" / "movies_metadata.csv", [
        metadata_row(id="862.0", imdb_id="tt0114709", title="Toy Story", overview="The metadata overview.",
                     tagline="The adventure takes off!", popularity="21.9", vote_count="5415.0"),
        metadata_row(id="603.0", imdb_id="tt0133093", title="The Matrix", overview="A hacker learns the truth.",
                     release_date="3/30/1999", vote_average="7.9"),
        # no tmdbId link for Babylon 5: joined through its IMDb id
        metadata_row(id="12345", imdb_id="tt0105946", title="Babylon 5", overview="A space station.",
                     release_date="1994-01-26"),
    ])
    write(root / "reviews" / "reviews.csv",
          "imdbId,source,rating,text\n"
          "tt0114709,imdb,10,A classic.\n"  # the TMDB review again, spelled differently
          "tt0114709,aclImdb,9,A long review of a film about toys that come alive.\n"
          "tt0114709,imdb,,Fun.\n"
          "tt0133093,imdb,,Whoa.\n")
    touch(root / "posters" / "1.jpg")
    touch(root / "posters" / "tmdb603.jpg")
    return root


def test_catalog_joins_every_source(data_dir: Path) -> None:
    catalog = catalog_from_data_dir(data_dir)
    assert isinstance(catalog, Catalog) and len(catalog) == 4 and sorted(catalog.movies) == [1, 2, 3, 4]
    toy = catalog[1]
    assert (toy.title, toy.year, toy.imdb_id, toy.tmdb_id) == ("Toy Story", 1995, "tt0114709", 862)
    assert toy.genres == ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]
    # the API first, movies_metadata only for what the API left empty (its tagline)
    assert toy.overview == "Led by Woody, Andy's toys..." and toy.tagline == "The adventure takes off!"
    assert (toy.popularity, toy.vote_count, toy.keywords) == (52.6, 6995, ["toy"])
    assert (toy.cast, toy.directors) == (["Tom Hanks"], ["John Lasseter"])
    assert toy.reviews == ["A long review of a film about toys that come alive.", "A classic.", "Short.", "Fun."]
    assert (toy.rating_count, toy.rating_mean) == (2, pytest.approx(3.75))
    assert toy.tags == ["pixar", "fun"]
    assert toy.poster == str((data_dir / "posters" / "1.jpg").absolute())

    matrix = catalog[2]
    assert (matrix.title, matrix.overview, matrix.vote_average) == ("The Matrix", "A hacker learns the truth.", 7.9)
    assert matrix.release_date == "1999-03-30" and matrix.reviews == ["Whoa."]
    assert matrix.poster is not None and matrix.poster.endswith("tmdb603.jpg")
    assert matrix.tags == ["cyberpunk, dystopia"] and matrix.rating_count == 1

    lost = catalog[3]
    assert (lost.overview, lost.reviews, lost.poster, lost.keywords) == (None, [], None, [])
    assert lost.rating_mean == 0.5

    babylon = catalog[4]
    assert (babylon.overview, babylon.year, babylon.tmdb_id) == ("A space station.", 1994, 12345)
    assert (babylon.rating_count, babylon.rating_mean, babylon.genres) == (0, None, [])

    assert catalog.coverage() == {"movies": 4, "overview": 3, "tagline": 1, "keywords": 1, "cast": 1,
                                  "directors": 1, "reviews": 2, "poster": 2, "tags": 2, "imdb_id": 4,
                                  "tmdb_id": 4, "popularity": 1, "ratings": 3}
    assert set(catalog.sources) == {"movielens", "tmdb_jsonl", "movies_metadata", "reviews", "posters"}
    assert len(catalog.ratings) == 4 and len(catalog.tags) == 4 and catalog.report.rows_skipped == 0


def test_review_cap(data_dir: Path) -> None:
    catalog = catalog_from_data_dir(data_dir, max_reviews_per_movie=2)
    assert catalog[1].reviews == ["A long review of a film about toys that come alive.", "A classic."]
    assert catalog_from_data_dir(data_dir, max_reviews_per_movie=0)[1].reviews == []


def test_select_reviews() -> None:
    assert select_reviews([["Great!", "A slow, patient film."], ["great! ", "  "], ["Okay."]], limit=5) == [
        "A slow, patient film.", "Great!", "Okay."]
    assert select_reviews([["bb", "aa", "c"]], limit=2) == ["bb", "aa"]  # ties keep source order


def test_build_catalog_from_loaded_sources(data_dir: Path) -> None:
    catalog = build_catalog(
        load_movielens(data_dir / "ml-latest-small"),
        tmdb_jsonl=load_tmdb_jsonl(data_dir / "tmdb" / "tmdb_api_movies.jsonl.gz"),
        reviews=load_reviews(data_dir / "reviews" / "reviews.csv"),
        posters=load_posters(data_dir / "posters"))
    assert catalog[1].overview == "Led by Woody, Andy's toys..." and catalog[1].tagline is None
    assert catalog[2].overview is None and catalog[2].reviews == ["Whoa."]
    assert catalog[2].poster is not None


def test_only_movielens(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_latest_small(tmp_path / "ml-25m")
    with caplog.at_level(logging.INFO, logger="index.catalog"):
        catalog = catalog_from_data_dir(tmp_path)
    missing = [r.getMessage() for r in caplog.records if "movies will lack that signal" in r.getMessage()]
    assert len(missing) == 4 and any("no movies metadata found" in m for m in missing)
    assert len(catalog) == 4 and catalog.coverage()["overview"] == 0 and catalog.coverage()["ratings"] == 3
    assert find_movielens_dir(tmp_path).name == "ml-25m"
    assert find_movielens_dir(tmp_path / "ml-25m").name == "ml-25m"


def test_no_movielens(tmp_path: Path) -> None:
    (tmp_path / "tmdb").mkdir()
    with pytest.raises(CatalogError, match="no MovieLens release found"):
        catalog_from_data_dir(tmp_path)
    with pytest.raises(CatalogError, match="not a folder"):
        catalog_from_data_dir(tmp_path / "absent")


def test_bad_rows_fail_or_are_reported(data_dir: Path) -> None:
    with open(data_dir / "reviews" / "reviews.csv", "a", encoding="utf-8") as handle:
        handle.write("nonsense,imdb,,Orphan review.\n")
    with pytest.raises(CatalogError) as caught:
        catalog_from_data_dir(data_dir)
    assert Path(caught.value.path or "").name == "reviews.csv" and caught.value.line == 6
    catalog = catalog_from_data_dir(data_dir, skip_bad_rows=True)
    assert catalog.report.rows_skipped == 1 and catalog.report["reviews.csv"].rows_skipped == 1
    assert "reviews.csv: 5 rows read, 1 skipped" in catalog.report.summary()


# --------------------------------------------------------------------------- the real data


@pytest.fixture(scope="module")
def real_catalog(shared_data: Path) -> tuple[Catalog, float]:
    started = time.perf_counter()
    catalog = catalog_from_data_dir(shared_data)
    return catalog, time.perf_counter() - started


def movies_with_overview_in_files(movielens: str, data: Path) -> set[int]:
    """The MovieLens movies some TMDB file gives a real plot for, joined by tmdbId or imdbId, read straight from
    the files (movies_metadata writes "No overview found." for none)."""
    import pandas as pd

    def real(text: object) -> bool:
        return isinstance(text, str) and text.strip().lower() not in ("", "no overview found.")

    with gzip.open(data / "tmdb" / "tmdb_api_movies.jsonl.gz", "rt") as fh:
        api = [json.loads(line) for line in fh]
    meta = pd.read_csv(data / "tmdb" / "movies_metadata.csv", dtype=str, keep_default_na=False)
    tmdb = {o["id"] for o in api if real(o.get("overview"))}
    tmdb |= {int(float(i)) for i, o in zip(meta["id"], meta["overview"], strict=True) if real(o)}
    imdb = {o.get("imdb_id") for o in api if real(o.get("overview"))}
    imdb |= {i for i, o in zip(meta["imdb_id"], meta["overview"], strict=True) if real(o)}
    links = pd.read_csv(Path(movielens) / "links.csv", dtype={"imdbId": str})
    return {int(m) for m, t, i in zip(links["movieId"], links["tmdbId"], links["imdbId"], strict=True)
            if (pd.notna(t) and int(t) in tmdb) or f"tt{i}" in imdb}


def test_real_catalog_coverage(real_catalog: tuple[Catalog, float], shared_data: Path) -> None:
    catalog, seconds = real_catalog
    assert seconds < 30
    coverage = catalog.coverage()
    assert coverage["movies"] == 9742
    assert coverage["overview"] == len(movies_with_overview_in_files(catalog.sources["movielens"], shared_data))
    assert coverage["reviews"] == 1763
    assert coverage["poster"] == len(list((shared_data / "posters" / "images").glob("*.jpg")))
    assert coverage["ratings"] == 9724
    assert (coverage["cast"], coverage["keywords"], coverage["tags"]) == (618, 571, 1572)
    assert catalog.report.rows_skipped == 0
    assert max(len(movie.reviews) for movie in catalog) == 20


def test_real_catalog_spot_checks(real_catalog: tuple[Catalog, float]) -> None:
    catalog, _ = real_catalog
    toy = catalog[1]
    assert toy.display_title == "Toy Story (1995)" and "Woody" in (toy.overview or "")
    assert "Animation" in toy.genres and toy.directors == ["John Lasseter"]
    assert toy.poster is not None and Path(toy.poster).is_file()
    assert toy.rating_count == 215 and 10 <= len(toy.reviews) <= 20
    matrix = catalog[2571]
    assert (matrix.title, matrix.year, matrix.imdb_id) == ("The Matrix", 1999, "tt0133093")
    assert matrix.rating_count > 250
