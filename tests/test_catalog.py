"""Joining sources into Movies: a tiny data folder whose right answers are known, then the real data."""

from __future__ import annotations

import csv
import gzip
import json
import logging
import time
from pathlib import Path

import pytest

from index.catalog import (
    Catalog,
    build_catalog,
    catalog_from_data_dir,
    find_movielens_dir,
    infer_collections,
    select_reviews,
)
from index.errors import CatalogError
from index.movie import Movie
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
                                  "directors": 1, "writers": 0, "composers": 0, "companies": 0, "collection": 0,
                                  "original_language": 0, "spoken_languages": 0, "countries": 0, "runtime": 0,
                                  "reviews": 2, "poster": 2, "tags": 2, "imdb_id": 4, "tmdb_id": 4, "popularity": 1,
                                  "ratings": 3}
    assert set(catalog.sources) == {"movielens", "tmdb_api", "movies_metadata", "reviews", "posters"}
    assert toy.provenance == {"overview": ["tmdb_api"], "tagline": ["movies_metadata"], "popularity": ["tmdb_api"],
                              "vote_count": ["tmdb_api"], "keywords": ["tmdb_api"], "cast": ["tmdb_api"],
                              "directors": ["tmdb_api"], "reviews": ["reviews", "tmdb_api"], "tags": ["movielens"],
                              "poster": ["posters"]}
    assert matrix.provenance["overview"] == ["movies_metadata"] and "reviews" not in lost.provenance
    by_source = catalog.coverage_by_source()
    assert by_source["overview"] == {"movies": 3, "tmdb_api": 1, "movies_metadata": 2}
    assert by_source["reviews"] == {"movies": 2, "reviews": 2, "tmdb_api": 1}
    table = catalog.coverage_table().splitlines()
    assert [line.split()[0] for line in table[1:]] == ["overview", "directors", "cast", "keywords", "companies",
                                                       "collection", "language", "runtime", "poster", "reviews", "tags"]
    assert table[1].split()[1:4] == ["3", "75.0%", "movies_metadata"]
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
    missing = [r.getMessage() for r in caplog.records if "movies will lack" in r.getMessage()]
    assert len(missing) == 8 and any("no The Movies Dataset (movies_metadata.csv) found" in m for m in missing)
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


def _linked(movielens: str, tmdb: set[int], imdb: set[str]) -> set[int]:
    import pandas as pd

    links = pd.read_csv(Path(movielens) / "links.csv", dtype={"imdbId": str})
    return {int(m) for m, t, i in zip(links["movieId"], links["tmdbId"], links["imdbId"], strict=True)
            if (pd.notna(t) and int(t) in tmdb) or f"tt{i}" in imdb}


def movies_with_overview_in_files(movielens: str, data: Path) -> set[int]:
    """The MovieLens movies some file gives a real plot for, joined by tmdbId or imdbId, read straight from the
    files: the TMDB API lines, movies_metadata.csv ("No overview found." for none) and tmdb_5000_movies.csv."""
    import pandas as pd

    def real(text: object) -> bool:
        return isinstance(text, str) and text.strip().lower() not in ("", "no overview found.")

    with gzip.open(data / "tmdb" / "tmdb_api_movies.jsonl.gz", "rt") as fh:
        api = [json.loads(line) for line in fh]
    meta = pd.read_csv(data / "tmdb" / "movies_metadata.csv", dtype=str, keep_default_na=False)
    kaggle = pd.read_csv(data / "tmdb" / "tmdb_5000_movies.csv", dtype=str, keep_default_na=False)
    tmdb = {o["id"] for o in api if real(o.get("overview"))}
    tmdb |= {int(float(i)) for i, o in zip(meta["id"], meta["overview"], strict=True) if real(o)}
    tmdb |= {int(i) for i, o in zip(kaggle["id"], kaggle["overview"], strict=True) if real(o)}
    imdb = {o.get("imdb_id") for o in api if real(o.get("overview"))}
    imdb |= {i for i, o in zip(meta["imdb_id"], meta["overview"], strict=True) if real(o)}
    return _linked(movielens, tmdb, imdb)


def movies_with_directors_in_files(movielens: str, data: Path) -> set[int]:
    """The MovieLens movies some file names a director for: the API's and TMDB 5000 credits' crews, the director
    column of tmdb-movies.csv and the director_name of IMDB 5000 (its imdb id read from the link)."""
    import pandas as pd

    def directs(crew: object) -> bool:
        return any(c.get("job") == "Director" for c in crew) if isinstance(crew, list) else False

    with gzip.open(data / "tmdb" / "tmdb_api_movies.jsonl.gz", "rt") as fh:
        api = [json.loads(line) for line in fh]
    credits = pd.read_csv(data / "tmdb" / "tmdb_5000_credits.csv", dtype=str, keep_default_na=False)
    udacity = pd.read_csv(data / "tmdb" / "tmdb-movies.csv", dtype=str, keep_default_na=False)
    scraped = pd.read_csv(data / "imdb" / "movie_metadata.csv", dtype=str, keep_default_na=False)
    tmdb = {o["id"] for o in api if directs((o.get("credits") or {}).get("crew"))}
    tmdb |= {int(i) for i, crew in zip(credits["movie_id"], credits["crew"], strict=True) if directs(json.loads(crew))}
    tmdb |= {int(i) for i, d in zip(udacity["id"], udacity["director"], strict=True) if d.strip()}
    imdb = {o.get("imdb_id") for o in api if directs((o.get("credits") or {}).get("crew"))}
    imdb |= {link.split("/")[4] for link, d in zip(scraped["movie_imdb_link"], scraped["director_name"], strict=True)
             if link and d.strip()}
    return _linked(movielens, tmdb, imdb)


def test_real_catalog_coverage(real_catalog: tuple[Catalog, float], shared_data: Path) -> None:
    catalog, seconds = real_catalog
    assert seconds < 30
    coverage = catalog.coverage()
    assert coverage["movies"] == 9742
    assert coverage["overview"] == len(movies_with_overview_in_files(catalog.sources["movielens"], shared_data))
    assert coverage["reviews"] == 1763
    assert coverage["poster"] == len(list((shared_data / "posters" / "images").glob("*.jpg")))
    assert coverage["ratings"] == 9724
    assert coverage["directors"] == len(movies_with_directors_in_files(catalog.sources["movielens"], shared_data))
    assert coverage["tags"] == 1572 and coverage["cast"] > 6000 and coverage["keywords"] > 6000
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
    potter = [m for m in catalog if m.title.startswith("Harry Potter and the")]
    assert len(potter) == 8 and {m.collection for m in potter} == {"Harry Potter Collection"}  # the files name one
    remake = next(m for m in catalog if (m.title, m.year) == ("Psycho", 1998))
    assert remake.collection is None  # "Psycho" (1960) is in the Psycho Collection; its remake is no part of it


def test_a_later_film_joins_its_franchise_by_its_title_and_a_shared_studio() -> None:
    def movie(mid: int, title: str, collection: str | None = None, companies: tuple[str, ...] = ("Pixar",),
              directors: tuple[str, ...] = ()) -> Movie:
        return Movie(movie_id=mid, title=title, year=2000 + mid, genres=[], collection=collection,
                     companies=list(companies), directors=list(directors))

    movies = {m.movie_id: m for m in (
        movie(1, "Toy Story", "Toy Story Collection"), movie(2, "Toy Story 3"), movie(3, "Toy Story Land"),
        movie(4, "Toy Story: Toons", companies=("Other",)), movie(5, "Toy Story II", companies=(), directors=()),
        movie(6, "The Ring", "The Ring Collection", directors=("Gore Verbinski",)),
        movie(7, "The Ring Two", companies=("DreamWorks",)), movie(8, "The Ring", companies=("Pixar",)),
        movie(9, "The Ring Animated: Part 2", "The Ring Animated Collection"),
        movie(10, "The Ring Animated: Part 3"),
        movie(11, "The Exorcist", "The Exorcist Collection"), movie(12, "Exorcist: The Beginning"),
        movie(13, "Mission: Impossible", "Mission: Impossible Collection"),
        movie(14, "Mission: Impossible - Ghost Protocol"), movie(15, "Mission: Impossiblefilm"))}
    assert infer_collections(movies) == 4
    # its article dropped, or a subtitle after a dash: still a film of the franchise
    assert movies[12].collection == "The Exorcist Collection"
    assert movies[14].collection == "Mission: Impossible Collection"
    assert movies[15].collection is None
    assert movies[2].collection == "Toy Story Collection" and movies[2].provenance["collection"] == ["title"]
    assert movies[10].collection == "The Ring Animated Collection"  # the longer name first
    # "Land" is no sequel's mark; no studio or director shared; a remake of a film of the franchise
    assert movies[3].collection is movies[4].collection is movies[5].collection is movies[8].collection is None
    assert movies[7].collection is None


# Conflicting pairs in the real files, settled by METADATA_PRECEDENCE: Hook's runtime is 142 in the API, 144 in TMDB
# 5000 and The Movies Dataset; A Civil Action's original language is "en" in TMDB 5000, "pt" in The Movies Dataset;
# Headhunters is "no" in the API, "en" in TMDB 5000; Velvet Goldmine's overview differs between TMDB 5000 and
# The Movies Dataset; Star Wars runs 121 minutes in TMDB 5000 and 125 in IMDB 5000.
SLICE = {1: 862, 260: 11, 2433: 9422, 3489: 879, 2337: 1808, 90600: 70670, 2571: 603, 3094: 26371, 139385: 281957}


@pytest.fixture(scope="module")
def real_slice(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    import pandas as pd

    from tests.real_subset import write_metadata_slice

    root = tmp_path_factory.mktemp("slice")
    ml = shared_data / "ml-latest-small"
    out = root / "ml-latest-small"
    out.mkdir()
    for name in ("movies.csv", "links.csv", "ratings.csv"):
        frame = pd.read_csv(ml / name, dtype=str, keep_default_na=False)
        frame[frame["movieId"].astype(int).isin(SLICE)].to_csv(out / name, index=False)
    links = pd.read_csv(out / "links.csv", dtype=str)
    write_metadata_slice(shared_data, root, set(SLICE.values()), {"tt" + i for i in links["imdbId"]})
    return catalog_from_data_dir(root)


def test_real_slice_known_fields(real_slice: Catalog) -> None:
    assert sorted(real_slice.sources) == ["imdb_5000", "movielens", "movies_metadata", "tmdb_5000_credits",
                                          "tmdb_5000_movies", "tmdb_api", "tmdb_movie_data"]
    toy = real_slice[1]
    assert (toy.collection, toy.original_language, toy.countries, toy.runtime) == ("Toy Story Collection", "en",
                                                                                   ["US"], 81)
    assert toy.cast[:2] == ["Tom Hanks", "Tim Allen"] and toy.directors == ["John Lasseter"]
    assert "Randy Newman" in toy.composers and "Joss Whedon" in toy.writers
    assert len(toy.cast) == len({c.casefold() for c in toy.cast})  # the API, Udacity and IMDB casts de-duplicated
    assert toy.provenance["cast"] == ["tmdb_api", "tmdb_movie_data", "imdb_5000"]
    matrix = real_slice[2571]  # not in the API nor the credits slice: Udacity and IMDB 5000 give its people
    assert matrix.directors == ["Lilly Wachowski", "Lana Wachowski"] and matrix.cast[0] == "Keanu Reeves"
    assert matrix.provenance["directors"] == ["tmdb_movie_data", "imdb_5000"]
    assert "Marcus Chong" in matrix.cast and "simulated reality" in matrix.keywords
    assert (matrix.runtime, matrix.provenance["runtime"]) == (136, ["tmdb_5000_movies"])
    maurice = real_slice[3094]  # TMDB 5000 credits: the full cast in billing order
    assert maurice.cast[:3] == ["James Wilby", "Hugh Grant", "Rupert Graves"] and len(maurice.cast) >= 15
    assert maurice.provenance["cast"][0] == "tmdb_5000_credits"
    assert real_slice[139385].directors == ["Alejandro González Iñárritu"]


def test_real_slice_precedence(real_slice: Catalog) -> None:
    hook, civil, head, velvet, star = (real_slice[i] for i in (3489, 2433, 90600, 2337, 260))
    assert (hook.runtime, hook.provenance["runtime"]) == (142, ["tmdb_api"])
    assert (civil.original_language, civil.provenance["original_language"]) == ("en", ["tmdb_5000_movies"])
    assert (head.original_language, head.provenance["original_language"]) == ("no", ["tmdb_api"])
    assert velvet.provenance["overview"] == ["tmdb_5000_movies"] and "Bowie " in (velvet.overview or "")
    assert (star.runtime, star.provenance["runtime"]) == (121, ["tmdb_5000_movies"])
    assert star.overview_text() is not None and star.provenance["overview"] == ["tmdb_5000_movies"]


def test_metadata_files_are_found_by_header_whatever_their_names(data_dir: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    write(data_dir / "tmdb" / "kaggle-export.csv",
          "id,title,overview,keywords,runtime,original_language\n"
          '603,The Matrix,The kaggle overview.,"[{""id"": 1, ""name"": ""hacker""}]",136,en\n')
    write(data_dir / "imdb" / "scraped.csv", "movie_imdb_link,movie_title,director_name,actor_1_name\n"
          "http://www.imdb.com/title/tt0133093/,The Matrix\xa0,Lana Wachowski,Keanu Reeves\n")
    write(data_dir / "copy_of_scraped.csv", "movie_imdb_link,movie_title,director_name\n")
    with caplog.at_level(logging.WARNING, logger="index.catalog"):
        catalog = catalog_from_data_dir(data_dir)
    assert "2 files hold Kaggle IMDB 5000" in caplog.text and "copy_of_scraped.csv" in caplog.text
    matrix = catalog[2]
    assert (matrix.runtime, matrix.original_language, matrix.keywords) == (136, "en", ["hacker"])
    assert matrix.overview == "The kaggle overview." and matrix.provenance["overview"] == ["tmdb_5000_movies"]
    assert (matrix.directors, matrix.cast) == (["Lana Wachowski"], ["Keanu Reeves"])
    assert catalog.sources["imdb_5000"].endswith("scraped.csv") and "copy_of" not in catalog.sources["imdb_5000"]
    with pytest.raises(CatalogError, match="it looks like Kaggle TMDB 5000 movies .*; pass it as tmdb_5000_movies="):
        build_catalog(data_dir / "ml-latest-small", movies_metadata=data_dir / "tmdb" / "kaggle-export.csv")
