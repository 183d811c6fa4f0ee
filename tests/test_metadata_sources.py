"""The movie-metadata formats beyond the TMDB API and The Movies Dataset: TMDB 5000 movies and credits, the
Udacity "TMDb movie data" and IMDB 5000; format detection, language/country codes and the per-movie merge."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from index.errors import CatalogError
from index.merge import merge_records, name_key, union_names
from index.sources import (
    LoadReport,
    MovieRecord,
    detect_format,
    load_imdb_5000,
    load_metadata,
    load_tmdb_5000_credits,
    load_tmdb_5000_movies,
    load_tmdb_movie_data,
)
from index.sources.codes import country_code, language_code


def write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def names(*values: str, key: str = "name") -> str:
    return json.dumps([{"id": i, key: v} for i, v in enumerate(values)])


# --------------------------------------------------------------------------- TMDB 5000 movies

MOVIES_HEADER = ["budget", "genres", "homepage", "id", "keywords", "original_language", "original_title", "overview",
                 "popularity", "production_companies", "production_countries", "release_date", "revenue", "runtime",
                 "spoken_languages", "status", "tagline", "title", "vote_average", "vote_count"]


def movie_row(**values: str) -> list[str]:
    defaults = {"genres": "[]", "keywords": "[]", "production_companies": "[]", "production_countries": "[]",
                "spoken_languages": "[]"}
    return [values.get(name, defaults.get(name, "")) for name in MOVIES_HEADER]


def tmdb_5000_rows() -> list[list[str]]:
    return [
        movie_row(id="862", title="Toy Story", overview="Led by Woody &amp; Buzz...", runtime="81",
                  genres=names("Animation"), keywords=names("toy", "friendship"), original_language="en",
                  production_companies=names("Pixar Animation Studios"),
                  production_countries=json.dumps([{"iso_3166_1": "US", "name": "United States of America"}]),
                  spoken_languages=json.dumps([{"iso_639_1": "en", "name": "English"}]), popularity="73.6",
                  vote_count="5269", vote_average="7.7", release_date="1995-10-30", tagline="The adventure takes off!"),
        movie_row(id="10858", title="Nixon", overview="An all-star cast.", runtime="0", original_language="cn",
                  spoken_languages=json.dumps([{"iso_639_1": "cn", "name": "广州话 / 廣州話"}])),
    ]


def test_tmdb_5000_movies(tmp_path: Path) -> None:
    records = load_tmdb_5000_movies(write_csv(tmp_path / "tmdb_5000_movies.csv", MOVIES_HEADER, tmdb_5000_rows()))
    toy = records[862]
    assert (toy.title, toy.overview, toy.tagline, toy.runtime) == ("Toy Story", "Led by Woody & Buzz...",
                                                                    "The adventure takes off!", 81)
    assert (toy.genres, toy.keywords, toy.companies) == (["Animation"], ["toy", "friendship"],
                                                         ["Pixar Animation Studios"])
    assert (toy.original_language, toy.spoken_languages, toy.countries) == ("en", ["en"], ["US"])
    assert (toy.popularity, toy.vote_count, toy.vote_average, toy.release_date) == (73.6, 5269, 7.7, "1995-10-30")
    assert toy.imdb_id is None and toy.cast == []
    nixon = records[10858]  # runtime 0 means unknown; TMDB's "cn" (Cantonese) is ISO 639-1 "zh"
    assert (nixon.runtime, nixon.original_language, nixon.spoken_languages) == (None, "zh", ["zh"])


@pytest.mark.parametrize(("bad", "line", "field", "message"), [
    (movie_row(id="12.5", title="x"), 3, "id", "'12.5' is not a TMDB id"),
    (movie_row(id="5", keywords='[{"id": 1, "name": "heist"'), 3, "keywords", "not a JSON list"),
    (movie_row(id="5", genres='{"id": 1}'), 3, "genres", "a JSON dict, not a list"),
    (movie_row(id="5", runtime="two hours"), 3, "runtime", "'two hours' is not a number of minutes"),
    (movie_row(id="5")[:-3], 3, None, "expected 20 fields, saw 17"),
])
def test_tmdb_5000_movies_bad_rows(tmp_path: Path, bad: list[str], line: int, field: str | None,
                                   message: str) -> None:
    path = write_csv(tmp_path / "tmdb_5000_movies.csv", MOVIES_HEADER, [tmdb_5000_rows()[0], bad,
                                                                        tmdb_5000_rows()[1]])
    with pytest.raises(CatalogError, match=message) as caught:
        load_tmdb_5000_movies(path)
    assert (caught.value.line, caught.value.field, Path(caught.value.path or "").name) == (
        line, field, "tmdb_5000_movies.csv")
    assert "--skip-bad-rows" in str(caught.value)
    report = LoadReport()
    assert sorted(load_tmdb_5000_movies(path, skip_bad_rows=True, report=report)) == [862, 10858]
    assert (report["tmdb_5000_movies.csv"].rows_read, report["tmdb_5000_movies.csv"].rows_skipped) == (3, 1)


def test_tmdb_5000_movies_needs_its_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "movies.csv", ["id", "title"], [["1", "x"]])
    with pytest.raises(CatalogError, match=r"line 1 \(header\): missing column\(s\) \['overview', 'keywords'\]"):
        load_tmdb_5000_movies(path)


# --------------------------------------------------------------------------- TMDB 5000 credits

CREDITS_HEADER = ["movie_id", "title", "cast", "crew"]


def credits_row(movie_id: str, cast: list[tuple[str, int]], crew: list[tuple[str, str, str]]) -> list[str]:
    return [movie_id, "t", json.dumps([{"name": n, "order": o, "character": "c"} for n, o in cast]),
            json.dumps([{"name": n, "job": j, "department": d} for n, j, d in crew])]


def test_tmdb_5000_credits(tmp_path: Path) -> None:
    rows = [credits_row("862", [("Tim Allen", 1), ("Tom Hanks", 0), ("Don Rickles", 2)],
                        [("John Lasseter", "Director", "Directing"), ("Joss Whedon", "Screenplay", "Writing"),
                         ("John Lasseter", "Original Story", "Writing"), ("Randy Newman", "Original Music Composer",
                                                                          "Sound"),
                         ("Ralph Guggenheim", "Producer", "Production")]),
            credits_row("949", [], [])]
    records = load_tmdb_5000_credits(write_csv(tmp_path / "credits.csv", CREDITS_HEADER, rows))
    toy = records[862]
    assert toy.cast == ["Tom Hanks", "Tim Allen", "Don Rickles"]  # billing order, not file order
    assert (toy.directors, toy.writers, toy.composers) == (["John Lasseter"], ["Joss Whedon", "John Lasseter"],
                                                           ["Randy Newman"])
    assert records[949].cast == [] and records[949].tmdb_id == 949


def test_tmdb_5000_credits_bad_rows(tmp_path: Path) -> None:
    rows = [credits_row("862", [("Tom Hanks", 0)], []), ["tt0114709", "t", "[]", "[]"],
            ["949", "Heat", "[{'name': 'Al Pacino'}]", "[]"]]
    path = write_csv(tmp_path / "credits.csv", CREDITS_HEADER, rows)
    with pytest.raises(CatalogError, match="line 3, field 'movie_id': 'tt0114709' is not a TMDB id"):
        load_tmdb_5000_credits(path)
    report = LoadReport()
    assert sorted(load_tmdb_5000_credits(path, skip_bad_rows=True, report=report)) == [862]
    assert report["credits.csv"].problems[1].startswith("line 4, field 'cast': not a JSON list")


# --------------------------------------------------------------------------- TMDb movie data (Udacity)

UDACITY_HEADER = ["id", "original_title", "cast", "director", "keywords", "genres"]


def udacity_rows() -> list[list[str]]:
    return [
        ["281957", "The Revenant", "Leonardo DiCaprio|Tom Hardy|Will Poulter", "Alejandro GonzÃ¡lez IÃ±Ã¡rritu",
         "father-son relationship|winter|noÃ«l", "Western|Drama"],
        ["603", "The Matrix", "Keanu Reeves|Laurence Fishburne", "Lilly Wachowski|Lana Wachowski", "", "Action"],
        ["603", "The Matrix (again)", "Nobody", "Nobody", "", ""],  # the original repeats a row
        ["949", "Heat", "", "", "", ""],
    ]


def test_tmdb_movie_data(tmp_path: Path) -> None:
    records = load_tmdb_movie_data(write_csv(tmp_path / "tmdb-movies.csv", UDACITY_HEADER, udacity_rows()))
    revenant = records[281957]
    assert revenant.directors == ["Alejandro González Iñárritu"]  # mojibake repaired
    assert revenant.cast == ["Leonardo DiCaprio", "Tom Hardy", "Will Poulter"]
    assert revenant.keywords == ["father-son relationship", "winter", "noël"]
    assert revenant.genres == ["Western", "Drama"] and revenant.overview is None
    assert records[603].directors == ["Lilly Wachowski", "Lana Wachowski"] and records[603].title == "The Matrix"
    assert records[949].cast == [] and records[949].directors == []


def test_tmdb_movie_data_full_original_columns(tmp_path: Path) -> None:
    header = ["id", "imdb_id", "popularity", "original_title", "cast", "director", "overview", "runtime",
              "production_companies", "release_date", "vote_count", "vote_average", "release_year"]
    rows = [["135397", "tt0369610", "32.98", "Jurassic World", "Chris Pratt", "Colin Trevorrow", "Twenty-two years",
             "124", "Universal Studios|Amblin Entertainment", "6/9/15", "5562", "6.5", "2015"],
            ["19", "tt0017136", "0.5", "Metropolis", "Brigitte Helm", "Fritz Lang", "", "153", "", "1/10/27", "", "",
             "1927"]]
    records = load_tmdb_movie_data(write_csv(tmp_path / "tmdb-movies.csv", header, rows))
    jurassic = records[135397]
    assert (jurassic.imdb_id, jurassic.overview, jurassic.runtime, jurassic.release_date) == (
        "tt0369610", "Twenty-two years", 124, "2015-06-09")
    assert jurassic.companies == ["Universal Studios", "Amblin Entertainment"] and jurassic.vote_count == 5562
    assert records[19].release_date == "1927-01-10"


def test_tmdb_movie_data_bad_rows(tmp_path: Path) -> None:
    rows = [udacity_rows()[0], ["Jurassic World", "x", "", "", "", ""], udacity_rows()[1]]
    path = write_csv(tmp_path / "tmdb-movies.csv", UDACITY_HEADER, rows)
    with pytest.raises(CatalogError, match="tmdb-movies.csv, line 3, field 'id': 'Jurassic World' is not a TMDB id"):
        load_tmdb_movie_data(path)
    report = LoadReport()
    assert sorted(load_tmdb_movie_data(path, skip_bad_rows=True, report=report)) == [603, 281957]
    assert report.rows_skipped == 1


# --------------------------------------------------------------------------- IMDB 5000

IMDB_HEADER = ["color", "director_name", "duration", "actor_2_name", "genres", "actor_1_name", "movie_title",
               "actor_3_name", "plot_keywords", "movie_imdb_link", "language", "country", "title_year"]


def imdb_rows() -> list[list[str]]:
    return [
        ["Color", "James Cameron", "178", "Joel David Moore", "Action|Sci-Fi", "CCH Pounder", "Avatar\xa0",
         "Wes Studi", "avatar|future|marine", "http://www.imdb.com/title/tt0499549/?ref_=fn_tt_tt_1", "English", "USA",
         "2009"],
        ["Color", "John Woo", "", "Tony Leung Chiu-wai", "Action", "Takeshi Kaneshiro", "Red Cliff\xa0", "", "",
         "http://www.imdb.com/title/tt0425637/?ref_=fn_tt_tt_1", "Mandarin", "China", "2008"],
        ["Color", "James Cameron", "999", "", "", "", "Avatar (repeat) ", "", "",
         "http://www.imdb.com/title/tt0499549/?ref_=fn_tt_tt_1", "English", "USA", "2009"],
        ["Color", "Thomas L. Phillips", "82", "", "", "Julianna Pitt", "Sanctuary", "", "", "", "", "", ""],
    ]


def test_imdb_5000(tmp_path: Path) -> None:
    records = load_imdb_5000(write_csv(tmp_path / "movie_metadata.csv", IMDB_HEADER, imdb_rows()))
    assert sorted(records) == ["tt0425637", "tt0499549"]  # the row without a link cannot be joined
    avatar = records["tt0499549"]
    assert (avatar.title, avatar.directors, avatar.runtime, avatar.tmdb_id) == ("Avatar", ["James Cameron"], 178, None)
    assert avatar.cast == ["CCH Pounder", "Joel David Moore", "Wes Studi"]
    assert (avatar.keywords, avatar.genres) == (["avatar", "future", "marine"], ["Action", "Sci-Fi"])
    assert (avatar.original_language, avatar.spoken_languages, avatar.countries) == ("en", ["en"], ["US"])
    cliff = records["tt0425637"]
    assert (cliff.title, cliff.original_language, cliff.countries, cliff.runtime) == ("Red Cliff", "zh", ["CN"], None)
    assert cliff.cast == ["Takeshi Kaneshiro", "Tony Leung Chiu-wai"]


@pytest.mark.parametrize(("column", "value", "message"), [
    ("movie_imdb_link", "http://www.imdb.com/name/nm0000116/", "holds no IMDb title id"),
    ("duration", "2h", "'2h' is not a number of minutes"),
])
def test_imdb_5000_bad_rows(tmp_path: Path, column: str, value: str, message: str) -> None:
    bad = list(imdb_rows()[1])
    bad[IMDB_HEADER.index(column)] = value
    path = write_csv(tmp_path / "movie_metadata.csv", IMDB_HEADER, [imdb_rows()[0], bad])
    with pytest.raises(CatalogError, match=message) as caught:
        load_imdb_5000(path)
    assert (caught.value.line, caught.value.field) == (3, column)
    report = LoadReport()
    assert list(load_imdb_5000(path, skip_bad_rows=True, report=report)) == ["tt0499549"]
    assert report["movie_metadata.csv"].rows_skipped == 1


# --------------------------------------------------------------------------- detection


def test_formats_are_told_by_header_not_name(tmp_path: Path) -> None:
    files = {
        "a.csv": (MOVIES_HEADER, tmdb_5000_rows()), "b.csv": (CREDITS_HEADER, [credits_row("862", [], [])]),
        "c.csv": (UDACITY_HEADER, udacity_rows()), "d.csv": (IMDB_HEADER, imdb_rows()),
        "e.csv": (["id", "imdb_id", "title", "overview", "belongs_to_collection"],
                  [["862", "tt0114709", "x", "y", ""]]),
        "f.csv": (["movieId", "title", "genres"], [["1", "x", "y"]]),
    }
    for name, (header, rows) in files.items():
        write_csv(tmp_path / name, header, rows)
    (tmp_path / "g.jsonl").write_text(json.dumps({"id": 862, "title": "Toy Story"}) + "\n")
    assert {name: detect_format(tmp_path / name) for name in [*files, "g.jsonl"]} == {
        "a.csv": "tmdb_5000_movies", "b.csv": "tmdb_5000_credits", "c.csv": "tmdb_movie_data", "d.csv": "imdb_5000",
        "e.csv": "movies_metadata", "f.csv": None, "g.jsonl": "tmdb_api"}
    kind, records = load_metadata(tmp_path / "d.csv")
    assert kind == "imdb_5000" and "tt0499549" in records
    with pytest.raises(CatalogError, match=r"it looks like Kaggle IMDB 5000 .*; expected Kaggle TMDB 5000 movies"):
        load_metadata(tmp_path / "d.csv", expected="tmdb_5000_movies")
    with pytest.raises(CatalogError, match="its header matches no known format"):
        load_metadata(tmp_path / "f.csv")


# --------------------------------------------------------------------------- codes and merging


@pytest.mark.parametrize(("value", "code"), [
    ("English", "en"), ("en", "en"), ("EN", "en"), ("Mandarin", "zh"), ("Cantonese", "zh"), ("cn", "zh"),
    ("Persian", "fa"), ("Dari", "fa"), ("Greek", "el"), ("Español", "es"), ("Filipino", "tl"), ("nb", "no"),
    ("Aramaic", None), ("Aboriginal", None), ("None", None), ("xx", None), ("", None), (None, None),
])
def test_language_code(value: str | None, code: str | None) -> None:
    assert language_code(value) == code


@pytest.mark.parametrize(("value", "code"), [
    ("USA", "US"), ("UK", "GB"), ("United States of America", "US"), ("South Korea", "KR"), ("West Germany", "DE"),
    ("Soviet Union", "SU"), ("gb", "GB"), ("Official site", None), ("New Line", None), ("", None),
])
def test_country_code(value: str, code: str | None) -> None:
    assert country_code(value) == code


def test_name_key_and_union() -> None:
    assert name_key("Alejandro González Iñárritu") == name_key("ALEJANDRO GONZALEZ INARRITU")
    assert name_key("J.J. Abrams") == name_key("J. J. Abrams") != name_key("J. Abrams")
    assert union_names([["Tom Hanks", "Tim Allen"], ["tom hanks", "Don Rickles"], ["Tim  Allen"]]) == [
        "Tom Hanks", "Tim Allen", "Don Rickles"]


def test_merge_takes_text_by_precedence_and_unions_people() -> None:
    api = MovieRecord(862, overview="API overview.", runtime=81, keywords=["toy"], cast=["Tom Hanks", "Tim Allen"],
                      companies=["Pixar"])
    t5 = MovieRecord(862, overview="TMDB 5000 overview.", runtime=80, keywords=["Toy", "friendship"],
                     companies=["Pixar Animation Studios"], original_language="en", collection=None)
    imdb = MovieRecord(imdb_id="tt0114709", overview=None, cast=["Tom Hanks", "Don Rickles"],
                       directors=["John Lasseter"], countries=["US"])
    fields, provenance = merge_records([("tmdb_api", api), ("tmdb_5000_movies", t5), ("imdb_5000", imdb)])
    assert (fields["overview"], fields["runtime"], fields["companies"]) == ("API overview.", 81, ["Pixar"])
    assert fields["original_language"] == "en" and fields["countries"] == ["US"] and "collection" not in fields
    assert fields["keywords"] == ["toy", "friendship"] and fields["cast"] == ["Tom Hanks", "Tim Allen", "Don Rickles"]
    assert provenance == {"overview": ["tmdb_api"], "runtime": ["tmdb_api"], "companies": ["tmdb_api"],
                          "original_language": ["tmdb_5000_movies"], "countries": ["imdb_5000"],
                          "keywords": ["tmdb_api", "tmdb_5000_movies"], "cast": ["tmdb_api", "imdb_5000"],
                          "directors": ["imdb_5000"]}
    fields, provenance = merge_records([("tmdb_5000_movies", t5), ("tmdb_api", api)])  # order is the precedence
    assert (fields["overview"], provenance["overview"]) == ("TMDB 5000 overview.", ["tmdb_5000_movies"])


# --------------------------------------------------------------------------- the real files


def test_real_metadata_files(shared_data: Path) -> None:
    movies = load_tmdb_5000_movies(shared_data / "tmdb" / "tmdb_5000_movies.csv")
    credits = load_tmdb_5000_credits(shared_data / "tmdb" / "tmdb_5000_credits.csv")
    udacity = load_tmdb_movie_data(shared_data / "tmdb" / "tmdb-movies.csv")
    imdb = load_imdb_5000(shared_data / "imdb" / "movie_metadata.csv")
    with open(shared_data / "tmdb" / "tmdb-movies.csv", newline="", encoding="utf-8") as fh:
        udacity_ids = {int(row["id"]) for row in csv.DictReader(fh)}
    with open(shared_data / "imdb" / "movie_metadata.csv", newline="", encoding="utf-8") as fh:
        links = {row["movie_imdb_link"].split("/")[4] for row in csv.DictReader(fh) if row["movie_imdb_link"]}
    assert (len(movies), len(credits), len(udacity), len(imdb)) == (4803, 803, len(udacity_ids), len(links))
    avatar = movies[19995]
    assert (avatar.title, avatar.runtime, avatar.original_language, avatar.countries) == ("Avatar", 162, "en",
                                                                                         ["US", "GB"])
    assert "Lightstorm Entertainment" in avatar.companies and "space war" in avatar.keywords
    assert credits[26371].directors == ["James Ivory"] and credits[26371].cast[0] == "James Wilby"
    assert udacity[281957].directors == ["Alejandro González Iñárritu"]
    people = {name for record in udacity.values() for name in record.cast + record.directors}
    assert "Malin Åkerman" in people and not any("Ã…" in name or "Ã©" in name for name in people)
    # 0x81, 0x8D, 0x90 and 0x9D (the second bytes of Á, Í, Ð, Ý) were lost in the original encoding
    assert sum("Ã" in name for name in people) < 30
    assert imdb["tt0499549"].title == "Avatar" and imdb["tt0499549"].runtime == 178
    assert not any(record.title != record.title.strip() for record in imdb.values())
