from __future__ import annotations

import pytest

from index.errors import TitleNotFound
from index.titles import TitleIndex, normalize_title, split_year

PAYLOADS = {
    1: {"title": "Toy Story", "year": 1995},
    3114: {"title": "Toy Story 2", "year": 1999},
    6: {"title": "Heat", "year": 1995},
    2571: {"title": "The Matrix", "year": 1999},
    10: {"title": "Hamlet", "year": 1948},
    11: {"title": "Hamlet", "year": 1990},
    12: {"title": "Hamlet", "year": 1996},
    13: {"title": "Amélie", "year": 2001},
    14: {"title": "The Heat", "year": 2013},
}


@pytest.fixture(scope="module")
def titles() -> TitleIndex:
    return TitleIndex(PAYLOADS)


@pytest.mark.parametrize("query,expected", [
    ("Toy Story (1995)", 1), ("toy story", 1), ("TOY STORY 2", 3114), ("Heat", 6), ("heat (1995)", 6),
    ("Matrix, The", 2571), ("matrix", 2571), ("The Matrix (1999)", 2571), ("amelie", 13),
    ("Hamlet (1990)", 11), ("Toy Storey", 1), ("the heat", 14), ("Heat (2013)", 14),
])
def test_resolves_forgiving_case_articles_and_year(titles: TitleIndex, query: str, expected: int) -> None:
    assert titles.resolve(query) == expected


def test_ambiguous_title_lists_candidates(titles: TitleIndex) -> None:
    with pytest.raises(TitleNotFound) as err:
        titles.resolve("Hamlet")
    assert err.value.candidates == ["Hamlet (1948)", "Hamlet (1990)", "Hamlet (1996)"]
    assert "add the year" in str(err.value)


def test_unknown_title_suggests_close_ones(titles: TitleIndex) -> None:
    with pytest.raises(TitleNotFound, match="did you mean") as err:
        titles.resolve("Toy Stories of the Matrix")
    assert err.value.candidates


def test_a_misspelt_title_suggests_the_title_it_misspells_first(shared_data: object) -> None:
    from index.catalog import catalog_from_data_dir

    catalog = catalog_from_data_dir(shared_data)  # type: ignore[arg-type]
    real = TitleIndex({m.movie_id: {"title": m.title, "year": m.year, "rating_count": m.rating_count}
                       for m in catalog})  # same-titled films: the most rated first
    # WRatio alone matched part of either string: M (1931), Vanya on 42nd Street and It (1990) came first
    for typo, meant in [("the matirx", "The Matrix (1999)"), ("heet", "Heat (1995)"), ("titanik", "Titanic (1997)"),
                        ("amelei", "Amelie (Le Fabuleux destin d'Amélie Poulain) (2001)"),
                        ("inceptoin", "Inception (2010)"), ("jurasic park", "Jurassic Park (1993)")]:
        assert real.candidates(typo)[0].display_title == meant, (typo, real.candidates(typo))


def test_wrong_year_is_not_silently_accepted(titles: TitleIndex) -> None:
    with pytest.raises(TitleNotFound):
        titles.resolve("Heat (2003)")


def test_pure_helpers() -> None:
    assert normalize_title("Matrix, The") == normalize_title("The Matrix") == "matrix"
    assert split_year("Se7en (1995)") == ("Se7en", 1995)
    assert split_year("Untitled") == ("Untitled", None)


def test_alternative_titles_in_parentheses_are_found() -> None:
    idx = TitleIndex({47: {"title": "Seven (a.k.a. Se7en)", "year": 1995},
                      4973: {"title": "Amelie (Fabuleux destin d'Amélie Poulain, Le)", "year": 2001},
                      2716: {"title": "Ghostbusters (a.k.a. Ghost Busters)", "year": 1984},
                      160080: {"title": "Ghostbusters", "year": 2016}})
    assert idx.resolve("Se7en") == 47 and idx.resolve("seven") == 47 and idx.resolve("Amelie") == 4973
    assert idx.exact("ghostbusters") == [2716, 160080] and idx.resolve("Ghostbusters (1984)") == 2716


def test_titles_are_found_as_people_type_them() -> None:
    idx = TitleIndex({858: {"title": "The Godfather", "year": 1972, "rating_count": 192},
                      1221: {"title": "The Godfather: Part II", "year": 1974, "rating_count": 129},
                      1240: {"title": "The Terminator", "year": 1984},
                      589: {"title": "Terminator 2: Judgment Day", "year": 1991},
                      1196: {"title": "Star Wars: Episode V - The Empire Strikes Back", "year": 1980},
                      2411: {"title": "Rocky IV", "year": 1985},
                      27773: {"title": "Old Boy", "year": 2003, "rating_count": 39},
                      107314: {"title": "Oldboy", "year": 2013, "rating_count": 2},
                      2542: {"title": "Lock, Stock & Two Smoking Barrels", "year": 1998},
                      4963: {"title": "Ocean's Eleven", "year": 2001},
                      1: {"title": "C.R.A.Z.Y.", "year": 2005}})
    # a sequel's number, as a digit or a Roman numeral, with or without "part" or the subtitle
    assert idx.resolve("Godfather 2") == idx.resolve("the godfather part 2") == idx.resolve("Godfather II") == 1221
    assert idx.resolve("Godfather") == 858 and idx.resolve("terminator") == 1240
    assert idx.resolve("Terminator 2") == idx.resolve("Terminator II") == 589
    assert idx.resolve("Star Wars 5") == idx.resolve("star wars episode v") == 1196
    assert idx.resolve("Rocky 4") == 2411 and idx.exact("Rocky 3") == []
    with pytest.raises(TitleNotFound, match="did you mean"):  # a sequel nobody here has is not the first film
        idx.resolve("Terminator 3")
    # words run together or apart, "&" for "and", no apostrophe: every spelling finds the film
    assert sorted(idx.exact("oldboy")) == [27773, 107314] and idx.exact("Old Boy") == [27773]
    assert idx.resolve("Oldboy") == 107314  # the title exactly as typed wins a tie, as "Heat" beats "The Heat"
    assert idx.resolve("Lock Stock and Two Smoking Barrels") == 2542 and idx.resolve("oceans eleven") == 4963
    assert idx.exact("crazy") == []  # initials are not a word


def test_a_franchise_name_means_its_most_rated_films_unless_a_film_has_that_title() -> None:
    idx = TitleIndex({2116: {"title": "The Lord of the Rings", "year": 1978, "rating_count": 15,
                             "collection": "The Lord of the Rings Animated Collection"},
                      4993: {"title": "The Lord of the Rings: The Fellowship of the Ring", "rating_count": 198,
                             "collection": "The Lord of the Rings Collection"},
                      5952: {"title": "The Lord of the Rings: The Two Towers", "rating_count": 188},  # by its title
                      1: {"title": "Toy Story", "rating_count": 215, "collection": "Toy Story Collection"},
                      3114: {"title": "Toy Story 2", "rating_count": 97, "collection": "Toy Story Collection"},
                      5: {"title": "Mission: Impossible", "rating_count": 90,
                          "collection": "Mission: Impossible Collection"},
                      6: {"title": "Mission: Impossible III", "rating_count": 40},
                      7: {"title": "The Mission", "rating_count": 20},
                      8: {"title": "Twilight", "rating_count": 22}, 9: {"title": "Twilight Saga: New Moon"}})
    assert idx.series("the Lord of the Rings") == idx.series("lord of the rings") == [4993, 5952]
    assert idx.series("Toy Story") == [] and idx.series("Mission Impossible") == []  # the film itself
    assert idx.series("Mission") == [] and idx.series("Twilight") == []  # no franchise of that name in the data
    # the API and the command line take one film per title: the film of that title, else a clear error
    assert idx.resolve("the Lord of the Rings") == 2116
    with pytest.raises(TitleNotFound, match="is a franchise, not one movie") as err:
        idx.resolve("The Lord of the Rings Trilogy")
    assert err.value.candidates == ["The Lord of the Rings: The Fellowship of the Ring",
                                    "The Lord of the Rings: The Two Towers"]
