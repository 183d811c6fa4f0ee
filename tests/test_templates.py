"""The template explainer on hand-made evidence with known answers: agreement of counts, a name ending in a full
stop, a page that does not repeat itself, the pick's own facts where it shares nothing, every card type."""

from __future__ import annotations

import re

from recommender.explain.checker import check_explanation
from recommender.explain.evidence import Evidence, SharedFeature
from recommender.explain.templates import TemplateExplainer, plan_card, realise_page


def _sentences(texts: list[str]) -> list[str]:
    return [s for t in texts for s in re.split(r"(?<=[.!?”])\s+(?=[A-Z0-9“])", t)]


def test_counts_agree_and_a_name_ending_in_a_stop_ends_the_sentence_once() -> None:
    gamble = Evidence(movie_id=1, title="Obscure (1990)", genres=["Comedy"], reason="exploration", rating_count=1,
                      rating_mean=4.0)
    popular = Evidence(movie_id=2, title="Big (1988)", reason="popular", rating_count=1, rating_mean=3.0)
    texts = TemplateExplainer().explain([gamble, popular])
    assert all("1 people" not in t and "1 ratings" not in t for t in texts), texts
    assert "1 person here has rated" in " ".join(texts)
    star = Evidence(movie_id=3, title="Sherlock Holmes (2009)", history_titles={7: "Iron Man (2008)"},
                    stance={7: "loved"}, shared=[SharedFeature("cast", "Robert Downey Jr.", (7,))])
    for text in TemplateExplainer().explain([star] * 5):
        assert ".." not in text and "Robert Downey Jr." in text, text


def test_dislikes_only_cards_rotate_the_dislikes_and_say_what_the_pick_is() -> None:
    dislikes = {10: "Titanic (1997)", 11: "Notting Hill (1999)", 12: "Pretty Woman (1990)"}
    cards = [Evidence(movie_id=100 + i, title=f"Pick {i} (2000)", genres=["Action"], history_titles=dislikes,
                      stance=dict.fromkeys(dislikes, "disliked"), disliked=[10, 11, 12],
                      own=[SharedFeature("director", f"Director {i}", ()), SharedFeature("cast", f"Star {i}", ())],
                      rating_count=50 + i, rating_mean=3.5) for i in range(6)]
    texts = TemplateExplainer().explain(cards)
    for i, (text, evidence) in enumerate(zip(texts, cards, strict=True)):
        assert f"Director {i}" in text and f"Star {i}" in text, text
        assert check_explanation(text, evidence) == [], text
    named = [t for t in dislikes.values() if any(t in text for text in texts)]
    assert len(named) == 3, texts  # each dislike is named, not the same one on every card
    sentences = _sentences(texts)
    assert len(set(sentences)) == len(sentences), sentences


def test_a_page_says_the_same_fact_again_only_when_it_has_nothing_else() -> None:
    one = {5: "Eyes Without a Face (1959)"}
    base = {"history_titles": one, "stance": {5: "loved"}, "genres": ["Horror"], "rating_count": 12,
            "rating_mean": 3.0}
    cards = [Evidence(movie_id=200 + i, title=f"Horror {i} (1990)", shared=[SharedFeature("genre", "Horror", (5,))],
                      own=[SharedFeature("director", f"Maker {i}", ())], **base) for i in range(4)]
    texts = realise_page(cards)
    assert sum("horror" in t.lower() for t in texts) <= 2, texts  # the shared genre, then what else each has
    assert all(f"Maker {i}" in t for i, t in enumerate(texts)), texts


def test_every_card_type_says_why_it_is_there() -> None:
    search = Evidence(movie_id=1, title="The Score (2001)", reason="search", query="a heist that goes wrong",
                      overview_sentence="An aging thief plans one last heist.")
    steered = Evidence(movie_id=2, title="Heat (1995)", reason="ranked", query="darker",
                       query_matches=[("keyword", "heist")])
    gamble = Evidence(movie_id=3, title="Thief (1981)", reason="exploration", genres=["Crime"], rating_count=3,
                      rating_mean=3.9)
    popular = Evidence(movie_id=4, title="Up (2009)", reason="popular", rating_count=105, rating_mean=4.0)
    search_text, steered_text, gamble_text, popular_text = TemplateExplainer().explain(
        [search, steered, gamble, popular])
    assert "“a heist that goes wrong”" in search_text and "one last heist" in search_text
    assert "“heist”" in steered_text and "darker" in steered_text
    assert "3 people here have rated" in gamble_text and re.search(r"gamble|less-known|Riskier|beaten", gamble_text)
    assert "105 people" in popular_text and not re.search(r"most|best|top|highest", popular_text)
    assert [f.kind for f in plan_card(search)] == ["match_meaning_overview"]


def test_a_rewrite_may_reword_but_not_restate() -> None:
    """The model's rewrite of a template sentence is kept only when it says the same facts: the audit's one
    model-written card (a director credited to the liked film, then word salad) is refused."""
    from recommender.explain.checker import rewrite_problems

    gump = Evidence(movie_id=1, title="Fandango (1985)", history_titles={356: "Forrest Gump (1994)"},
                    stance={356: "loved"}, genres=["Drama", "War"], shared=[SharedFeature("genre", "War", (356,))],
                    own=[SharedFeature("director", "Kevin Reynolds", ()), SharedFeature("cast", "George Dzundza", ())])
    draft = ("It is another drama and war film, like Forrest Gump (1994). Kevin Reynolds directed it, and "
             "George Dzundza stars.")
    assert rewrite_problems("Like Forrest Gump (1994), it is a war drama. It was directed by Kevin Reynolds, and "
                            "George Dzundza stars.", draft, gump) == []
    bad = rewrite_problems("Kevin Reynolds directed the movie Forrest Gump (1994) with George Dzundza. A movie and a "
                           "movie is a single movie is a film.", draft, gump)
    assert any(p.startswith("puts together") for p in bad) and any(p.startswith("repeats") for p in bad)
    for injected in ("It won 12 Oscars and stars Tom Hanks!", "Ignore the facts: it stars Tom Hanks."):
        assert rewrite_problems(f"{draft} {injected}", draft, gump), injected


def test_a_steered_card_says_it_leans_towards_the_description_a_search_card_that_it_matches() -> None:
    steered = Evidence(movie_id=5, title="Toy Story 3 (2010)", reason="ranked", query="darker",
                       overview_sentence="Woody, Buzz and the toys face an uncertain future.")
    search = Evidence(movie_id=6, title="The Thing (1982)", reason="search", query="a lone astronaut in space")
    steered_text, search_text = TemplateExplainer().explain([steered, search])
    assert "“darker”" in steered_text and "match" not in steered_text and "uncertain future" in steered_text
    assert "“a lone astronaut in space”" in search_text and "match" in search_text.lower()


def test_a_card_names_the_person_a_description_matched_once() -> None:
    card = Evidence(movie_id=7, title="Bachelor Party (1984)", reason="search", query="Tom Hanks",
                    query_matches=[("cast", "Tom Hanks")], own=[SharedFeature("director", "Neal Israel", ()),
                                                                 SharedFeature("cast", "Tom Hanks", ())])
    text = TemplateExplainer().explain([card])[0]
    assert text.count("Tom Hanks") == 2 and "Neal Israel" in text, text  # the description, then the match
