"""Chat messages read into requests: known answers for each kind of sentence the app promises to understand."""

from __future__ import annotations

import pytest

from app.chat import ordinal, parse_message, split_titles
from index.titles import normalize_title

KNOWN = {"heat", "alien", "titanic", "toy story", "the matrix", "sense and sensibility", "fargo", "se7en", "up",
         "harry and the hendersons", "monsters, inc.", "monsters", "finding nemo", "in the mood for love",
         "love actually", "amelie", "pride and prejudice", "interstellar"}


def is_title(text: str) -> bool:
    return normalize_title(text) in {normalize_title(k) for k in KNOWN}


def parse(text: str) -> dict[str, object]:
    return {k: v for k, v in vars(parse_message(text, is_title)).items() if v}


@pytest.mark.parametrize(("message", "expected"), [
    ("I loved Heat and Alien, hated Titanic", {"liked": ["Heat", "Alien"], "disliked": ["Titanic"]}),
    ("something like Toy Story but darker", {"liked": ["Toy Story"], "steer": "darker"}),
    ("no horror", {"exclude_genres": ["Horror"]}),
    ("more like the third one", {"card_liked": [3]}),
    ("why the second?", {"why": [2]}),
    ("I didn't like Fargo but loved Se7en", {"liked": ["Se7en"], "disliked": ["Fargo"]}),
    ("I'm not a fan of Titanic", {"disliked": ["Titanic"]}),
    ("Sense and Sensibility and Heat were great", {"liked": ["Sense and Sensibility", "Heat"]}),
    ("Titanic was boring", {"disliked": ["Titanic"]}),
    ("movies like The Matrix", {"liked": ["The Matrix"]}),
    ("I loved Finding Nemo and Monsters, Inc., hated Up", {"liked": ["Finding Nemo", "Monsters, Inc."],
                                                            "disliked": ["Up"]}),
    ("less like #2", {"card_disliked": [2]}),
    ("not the 4th", {"card_disliked": [4]}),
    ("why did you pick the last one?", {"why": [-1]}),
    ("why Heat?", {"why": ["Heat"]}),
    ("only comedies please", {"only_genres": ["Comedy"]}),
    ("no sci-fi and no scary movies", {"exclude_genres": ["Sci-Fi", "Horror"]}),
    ("any genre is fine", {"any_genre": True}),
    ("start over", {"reset": True}),
    ("a heist that goes wrong", {"steer": "a heist that goes wrong"}),
    ("I'd like something funny", {"steer": "funny"}),
    ("show me something with robots and no horror", {"exclude_genres": ["Horror"], "steer": "with robots"}),
    ("Heat", {"liked": ["Heat"]}),
    ("I like Heatt", {"liked": ["Heatt"]}),
    ("hi", {}),
    ("thanks!", {"thanks": True}),
    ("see you", {}),
    ("what should I watch tonight?", {"picks": True}),
    ("recommend me something good", {"picks": True}),
    ("any ideas?", {"picks": True}),
    ("something good from the 90s", {"steer": "good from the 90s"}),
    ("I hated the second one", {"card_disliked": [2]}),
    ("I didn't like the first one", {"card_disliked": [1]}),
    ("I enjoyed the 3rd", {"card_liked": [3]}),
    ("more like that but newer", {"steer": "newer"}),
    ("show me more", {"more": True}),
    # long messages as people write them: a genre disliked is a rule, greetings and company say nothing
    ("Hi! I really enjoyed Inception and Interstellar, but I can't stand romantic comedies. Anything similar but a "
     "bit older?", {"liked": ["Inception", "Interstellar"], "exclude_genres": ["Romance"],
                    "steer": "similar but a bit older"}),
    ("My wife loves Pride and Prejudice and I love Heat. Something we'd both like?",
     {"liked": ["Pride and Prejudice", "Heat"], "picks": True}),
    ("I can't stand horror or musicals", {"exclude_genres": ["Horror", "Musical"]}),
    ("she loves musicals", {"steer": "musicals"}),
    ("Hi there, any ideas?", {"picks": True}),
    ("I adore Wes Anderson films, especially Heat", {"liked": ["Wes Anderson films", "Heat"]}),  # not "especially
    # Heat"; the session reads a liked text that is no title as a request ("Wes Anderson films")
    ("nah, something else", {"more": True}),
    ("what else?", {"more": True}),
    ("show me more comedies", {"steer": "more comedies"}),
    ("I loved Amelie and In the Mood for Love", {"liked": ["Amelie", "In the Mood for Love"]}),  # "Love" is a title's
    ("I liked Heat and Love Actually, hated Up", {"liked": ["Heat", "Love Actually"], "disliked": ["Up"]}),
    ("I loved Heat and loved Alien", {"liked": ["Heat", "Alien"]}),
    ("I liked Alien and Heat. not too scary", {"liked": ["Alien", "Heat"], "exclude_genres": ["Horror"]}),
    # what was watched, and what people then ask: "what next" is no title, a watched film is liked unless said not
    ("I watched Interstellar last night and loved it, what next?", {"liked": ["Interstellar"], "picks": True}),
    ("Just saw Heat, loved it", {"liked": ["Heat"]}),
    ("I saw Titanic yesterday and hated it", {"disliked": ["Titanic"]}),
    ("I watched Heat, it was boring", {"disliked": ["Heat"]}),
    ("we watched Heat and Alien last week and loved them", {"liked": ["Heat", "Alien"]}),
    ("I have seen Fargo", {"liked": ["Fargo"]}),
    ("I watched a movie about sharks", {"steer": "I watched a movie about sharks"}),
    ("what should I watch after Se7en?", {"liked": ["Se7en"], "picks": True}),
    ("I loved Interstellar, what next?", {"liked": ["Interstellar"], "picks": True}),
    ("I loved Heat, anything similar?", {"liked": ["Heat"], "picks": True}),
    ("I've seen all of these", {"seen": True}),
    ("already watched them", {"seen": True}),
    ("not that one", {"card_disliked": [0]}),  # 0: the card the last "why" was about
    ("no, I didn't like that one", {"card_disliked": [0]}),
    ("more like this one please", {"card_liked": [0]}),
    ("not that", {"card_disliked": [0]}),
    # how many cards: the number goes, the request stays
    ("give me 5 comedies", {"count": 5, "steer": "comedies"}),
    ("top 3 horror films", {"count": 3, "steer": "top horror films"}),
    ("show me three more", {"count": 3, "more": True}),
    ("just 2 more", {"count": 2, "more": True}),
    ("give me 50", {"count": 20}),
    ("I loved Heat, recommend 4 movies", {"liked": ["Heat"], "count": 4, "picks": True}),
    ("only 90s", {"steer": "only 90s"}),  # no number: no count
    ("I loved Se7en", {"liked": ["Se7en"]}),
    ("My favourite movies are Heat, Fargo and Se7en", {"liked": ["Heat", "Fargo", "Se7en"]}),  # was a search
    ("I'm bored. Surprise me!", {"picks": True}),
    ("I liked Toy Story. More please", {"liked": ["Toy Story"], "picks": True}),  # not a search for "More"
    ("surprise me with a comedy", {"steer": "a comedy"}),
    ("something like Se7en from the last 10 years", {"liked": ["Se7en"], "steer": "from the last 10 years"}),
    ("something like Se7en from the 90s but darker", {"liked": ["Se7en"], "steer": "from the 90s, darker"}),
    ("I hate musicals and anything with Adam Sandler", {"exclude_genres": ["Musical"],
                                                        "steer": "nothing with Adam Sandler"}),  # no "musicals" title
    ("I hate Titanic and musicals", {"disliked": ["Titanic"], "exclude_genres": ["Musical"]}),
    ("I love Heat and anything with Al Pacino", {"liked": ["Heat"], "steer": "with Al Pacino"}),
    # questions about a card, thanks, and cards seen: the page stays, or loses those cards
    ("how long is the second one?", {"about": [(2, "runtime")]}),
    ("who directed the third one?", {"about": [(3, "director")]}),
    ("who is in #4", {"about": [(4, "cast")]}),
    ("is the first one on Netflix?", {"about": [(1, "streaming")]}),
    ("what is the last film about?", {"about": [(-1, "plot")]}),
    ("when was it released?", {"about": [(0, "year")]}),
    ("what is the runtime of the second one?", {"about": [(2, "runtime")]}),  # it answered the plot
    # questions about a named movie: answered, the page stays (they were searches for "who's in Heat")
    ("what is Interstellar about?", {"about": [("Interstellar", "plot")]}),
    ("who's in Heat?", {"about": [("Heat", "cast")]}),
    ("who directed Toy Story?", {"about": [("Toy Story", "director")]}),  # "Story" is the title's
    ("how long is The Matrix", {"about": [("The Matrix", "runtime")]}),
    ("when did Alien come out?", {"about": [("Alien", "year")]}),
    ("is Fargo on Netflix?", {"about": [("Fargo", "streaming")]}),
    ("tell me about Se7en", {"about": [("Se7en", "plot")]}),
    ("Is The Matrix any good?", {"about": [("The Matrix", "rating")]}),
    ("is the second one worth watching?", {"about": [(2, "rating")]}),
    ("how about Alien?", {"steer": "Alien"}),  # offered, not asked about
    ("what is a good horror film?", {"steer": "what is a good horror film"}),  # no title: a search
    ("who directed the best heist movies?", {"steer": "who directed the best heist movies"}),
    ("something about the first world war", {"steer": "about the first world war"}),  # a topic, not a card
    ("movies about the first man on the moon?", {"steer": "about the first man on the moon"}),
    ("the third one looks good", {"card_liked": [3]}),
    ("already seen the first two", {"seen_cards": [1, 2]}),
    ("I've seen the 1st and the 3rd", {"seen_cards": [1, 3]}),
    ("what would I like?", {"picks": True}),  # it was read as "I like" with no title: nothing asked
    ("I've seen it", {"seen_cards": [0]}),  # the card last discussed; it steered towards "I've seen"
    ("already seen that one", {"seen_cards": [0]}),
    ("thanks, that's great!", {"thanks": True}),  # it searched "that's great"
    ("help", {"help": True}),  # it liked The Help (2011)
    ("I'd love something like Se7en", {"liked": ["Se7en"]}),  # the page leaned towards "I'd"
    ("I loved Heat. Actually I didn't like it", {"disliked": ["Heat"]}),  # "it": the title just named
    ("what about something funny instead?", {"steer": "funny instead"}),
    ("go back", {"undo": True}),
    ("forget Heat", {"forget": "Heat"}),
    ("remove the horror rule", {"forget": "the horror"}),
    ("forget everything", {"reset": True}),
    ("Hello! What can you do?", {"help": True}),
    ("I want to watch something with my girlfriend tonight, she likes romcoms and I like action",
     {"steer": "romcoms action"}),  # "to watch something with my girlfriend tonight, she romcoms action"
])
def test_chat_sentences(message: str, expected: dict[str, object]) -> None:
    assert parse(message) == expected


def test_an_and_inside_a_title_is_kept() -> None:
    assert split_titles("Harry and the Hendersons and Up", is_title) == ["Harry and the Hendersons", "Up"]
    assert split_titles("Heat, Alien & Fargo", is_title) == ["Heat", "Alien", "Fargo"]
    assert split_titles("Heat and Unknown Film", is_title) == ["Heat", "Unknown Film"]  # the unknown one is asked back
    assert split_titles("Heat, Unknown and Sense and Sensibility", is_title) == ["Heat", "Unknown",
                                                                                "Sense and Sensibility"]


def test_ordinals() -> None:
    assert [ordinal(t) for t in ("first", "the 2nd one", "#3", "number 10", "last", "Heat")] == [1, 2, 3, 10, -1, None]

