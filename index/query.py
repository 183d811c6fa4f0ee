"""What a request asks for: the one query-understanding parser behind the chat, ``Recommender.search``,
``recommend(steer=...)`` and ``cinefuse search``.

A :class:`Vocabulary` is built once from the index's payloads: every director, actor, writer, production company,
franchise (collection), keyword, user tag, language and country the catalog knows, with the short names people use
("Pixar", "Ghibli", "Nolan", "Bond films", "Star Wars"). :func:`parse_query` finds them in a message, with decades
and year ranges, runtimes, negations ("no horror", "not Tarantino") and references ("like Toy Story but darker").
What names a hard attribute (a person, a studio, a franchise, a genre, a period, a language, a runtime) becomes a
filter; a topic ("heist movies") becomes a boost; the rest is the semantic query for the dense and BM25 vectors.

Parsing is linear in the message: one pass over its words tries at most ``MAX_NAME_WORDS`` word spans per word in
hash tables, the regular expressions are linear, and fuzzy matching (rapidfuzz) runs on at most
``MAX_FUZZY_LOOKUPS`` unknown stretches per message.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import DamerauLevenshtein

from index.store import Boost, FieldMatch, Filters
from index.titles import SEQUEL_NUMBERS, TitleIndex, same_number

Kind = Literal["director", "actor", "writer", "person", "company", "collection", "genre", "keyword", "language",
               "country", "decade"]

#: the words people use for a genre, mapped to MovieLens' genre names
GENRE_WORDS = {
    "action": "Action", "adventure": "Adventure", "adventures": "Adventure", "animation": "Animation",
    "animated": "Animation", "cartoons": "Animation", "cartoon": "Animation", "anime": "Animation",
    "children": "Children", "childrens": "Children", "kids": "Children", "kid": "Children", "family": "Children",
    "comedy": "Comedy", "comedies": "Comedy", "funny": "Comedy", "crime": "Crime", "documentary": "Documentary",
    "documentaries": "Documentary", "docs": "Documentary", "drama": "Drama", "dramas": "Drama",
    "fantasy": "Fantasy", "film noir": "Film-Noir", "noir": "Film-Noir", "horror": "Horror", "scary": "Horror",
    "slasher": "Horror", "slashers": "Horror", "imax": "IMAX", "musical": "Musical", "musicals": "Musical",
    "mystery": "Mystery", "mysteries": "Mystery", "romance": "Romance", "romantic": "Romance",
    "romances": "Romance", "romcom": "Romance", "romcoms": "Romance", "rom com": "Romance", "rom coms": "Romance",
    "sci fi": "Sci-Fi", "scifi": "Sci-Fi", "science fiction": "Sci-Fi", "thriller": "Thriller",
    "thrillers": "Thriller", "war": "War", "western": "Western", "westerns": "Western",
}
#: genre words that also have everyday meanings ("a family that moves..."): a genre only next to a film word
WEAK_GENRE_WORDS = {"family", "kids", "kid", "children", "childrens", "war", "crime", "docs", "mystery", "musical",
                    "adventure", "drama", "action", "fantasy"}
#: weak genre words that name a film on their own after "a": "a musical from the 50s", "a mystery"
_FILM_NOUNS = {"musical", "drama", "mystery", "fantasy", "adventure"}
#: words that name the medium, never a topic
_MEDIUM_WORDS = {"movie", "movies", "film", "films", "flick", "flicks", "picture", "pictures", "cinema"}
#: words that make the word before them a kind of film ("heist movies", "French films", "Bond films")
FILM_WORDS = {"movie", "movies", "film", "films", "flick", "flicks", "picture", "pictures", "ones", "stuff", "cinema",
              "titles", "features", "classics", "comedies", "dramas", "thrillers", "cartoons", "documentaries",
              "animation", "anime", "westerns", "musicals", "romcoms", "horror", "comedy", "drama", "thriller",
              "romances", "mysteries", "adventures", "fantasy", "action", "scifi"}
FRANCHISE_WORDS = {"franchise", "series", "saga", "collection", "trilogy", "sequels", "films", "movies"}
NEGATIONS = {"no", "not", "without", "except", "excluding", "minus", "avoid", "skip", "exclude", "never", "nothing",
             "none", "non", "isnt", "arent", "dont", "but", "less", "fewer"}
DIRECTOR_CUES = {"directed", "director", "directors", "by", "filmmaker"}
ACTOR_CUES = {"starring", "stars", "star", "with", "featuring", "feat", "actor", "actress", "played", "acted",
              "cast"}
WRITER_CUES = {"written", "writer", "screenplay", "scripted", "penned"}
TOPIC_CUES = {"about", "involving", "featuring", "with", "on", "regarding", "concerning", "themed"}
#: words that carry no meaning for the semantic query once the entities are taken out
FILLER = {"similar", "greatest", "finest", "acclaimed", "rated", "highest", "highly", "must", "alike", "else", "kind",
          "ideally", "preferably", "perhaps", "possibly", "looking", "weekend", "they", "their", "this",
          "sort", "type", "movie", "movies", "film", "films", "flick", "flicks", "picture", "pictures", "cinema",
          "show", "me",
          "give", "find", "recommend", "suggest", "some", "something", "anything", "any", "please", "i", "want",
          "would", "like", "to", "watch", "see", "the", "a", "an", "from", "by", "directed", "starring", "with",
          "featuring", "in", "of", "and", "or", "made", "about", "that", "are", "is", "ones", "one", "stuff", "for",
          "tonight", "good", "great", "best", "top", "instead", "actually", "fewer", "all", "every", "only", "just",
          "more", "other", "franchise",
          "series", "saga", "collection", "studio", "studios", "s", "d", "im", "can", "you", "could", "we", "do",
          "get", "list", "lists", "what", "which", "there", "set", "era", "decade", "years",
          "produced", "production", "company", "language", "spoken", "country", "countries", "written", "writer",
          "director", "actor", "actress", "but", "not", "no", "without", "except", "love", "loved", "enjoy", "liked",
          "really", "also", "too", "fan", "fans", "am", "have", "has", "own", "them", "it", "those", "these"}
#: words left out of company and franchise names when people shorten them ("Pixar Animation Studios" is "Pixar")
COMPANY_SUFFIXES = {"pictures", "picture", "studios", "studio", "films", "film", "productions", "production",
                    "entertainment", "company", "corporation", "corp", "inc", "ltd", "llc", "group", "international",
                    "distribution", "animation", "feature", "features", "the", "co", "motion", "media", "cinema",
                    "classics", "releasing", "filmproduktion", "television", "tv", "home", "video", "limited"}
#: how people name a country's films when the adjective is not a language's name
DEMONYMS = {"american": "US", "british": "GB", "english": "GB", "scottish": "GB", "welsh": "GB", "australian": "AU",
            "canadian": "CA", "irish": "IE", "mexican": "MX", "indian": "IN", "bollywood": "IN", "brazilian": "BR",
            "argentinian": "AR", "argentine": "AR", "kiwi": "NZ", "belgian": "BE", "swiss": "CH",
            "austrian": "AT", "iranian": "IR", "israeli": "IL", "south african": "ZA", "taiwanese": "TW",
            "hong kong": "HK", "new zealand": "NZ", "hollywood": "US", "soviet": "RU", "czech": "CZ",
            "chilean": "CL", "colombian": "CO", "cuban": "CU", "egyptian": "EG", "filipino": "PH", "icelandic": "IS",
            "nigerian": "NG", "senegalese": "SN", "thai": "TH", "vietnamese": "VN", "yugoslav": "RS"}
DECADE_WORDS = {"twenties": 1920, "thirties": 1930, "forties": 1940, "fifties": 1950, "sixties": 1960,
                "seventies": 1970, "eighties": 1980, "nineties": 1990}
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "an": 1, "a": 1}
#: numbers written out, as people count films or years ("give me five", "the last ten years")
COUNT_WORDS = {w: i for i, w in enumerate(["one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                                            "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
                                            "seventeen", "eighteen", "nineteen", "twenty"], 1)}
#: the longest name (in words) looked up at each word, and the most fuzzy look-ups one message gets
MAX_NAME_WORDS = 8
MAX_FUZZY_LOOKUPS = 12
#: how far after "like" a referenced title may reach
MAX_TITLE_CHARS = 160
FUZZY_CUTOFF = 88.0
#: how close a misspelt topic word must be (Damerau-Levenshtein similarity, where two swapped letters are one edit):
#: one edit in five letters, two in ten ("soprt" is "sport", not "short")
TOPIC_FUZZY_CUTOFF = 0.79  # 0.8 less rounding
#: how many years back "recent" reaches from the newest movie in the catalog; what "old" or "classic" means
RECENT_YEARS = 5
CLASSIC_BEFORE = 1980
SHORT_MINUTES = 90
#: "something short" is a short feature: at least this long, unless "short films" names the form
FEATURE_MINUTES = 60
LONG_MINUTES = 140
#: what "lighter", "darker" and "a tearjerker" are searched as (a lone word embeds as little more than itself)
TONES = {"light": "a light-hearted, funny and feel-good story", "dark": "a dark, grim and disturbing story",
         "sad": "a moving, heartbreaking and sad story", "romantic": "a romantic, charming and funny love story",
         "tense": "a slow, tense and atmospheric story where the suspense builds",
         "mind": "a mind-bending, surreal puzzle that plays with reality, memory and dreams"}
#: a tone asked on its own ("cheer me up", "a date night movie") is looked for among the most-rated films of the
#: first genres and none of the second (index.search.TONE_POOL): MiniLM reads a plot summary's tone weakly, and the
#: overviews nearest the tone's description alone were obscure films (The Acid House for "cheer me up")
TONE_GENRES = {"light": (("Comedy", "Children", "Animation"), ("Horror", "Thriller", "War", "Crime")),
               "dark": (("Horror", "Thriller", "Crime", "War", "Mystery"), ("Children", "Animation", "Musical",
                                                                           "Comedy")),
               "sad": (("Drama", "Romance", "War"), ("Horror", "Children", "Animation", "Comedy")),
               "romantic": (("Romance",), ("Horror", "War", "Children")),
               "tense": (("Thriller", "Mystery", "Crime"), ("Children", "Animation", "Musical", "Comedy")),
               "mind": (("Sci-Fi", "Mystery", "Fantasy", "Thriller"), ("Children", "Musical"))}
KEYWORD_BOOST, MENTION_BOOST = 1.0, 0.5
#: a topic outweighs a person's or studio's name spelt the same ("space movies" is not Space Productions' one film,
#: "a movie set in Paris" not the studio Paris', "Christmas movies" not Eric Christmas') when it has at least this
#: many movies and three times the name's; a franchise only when typed in lower case ("alien movies", not "Alien
#: films")
TOPIC_OVER_NAME = 10
#: parse_query's default for ``compare`` (benchmarks/recommend_steers.py turns it off for the "before" pages)
READ_COMPARISONS = True

_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_PRIORITY = {"person": 0, "collection": 1, "company": 2, "genre": 3, "language": 4, "country": 5, "keyword": 6}


def normalize(text: str) -> str:
    """Lowercase, accents and apostrophes dropped, words split on anything else: the form names are looked up in.

    Example:
        >>> normalize("Amélie's  Sci-Fi")
        'amelies sci fi'
    """
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    folded = re.sub(r"['’]", "", folded)
    return " ".join(re.findall(r"[a-z0-9]+", folded))


@dataclass(frozen=True)
class Entry:
    """One thing the catalog knows by a name: a person, a company, a franchise, a genre, a keyword...

    ``values`` are the exact payload values a filter matches (a short name like "Disney" stands for several
    companies); ``weak`` names are common words ("family", "Bond") that count only next to a film word.
    """

    kind: str
    values: tuple[str, ...]
    label: str
    count: int
    weak: bool = False
    roles: tuple[tuple[str, int], ...] = ()  # a person's credits: ("director", 9), ("actor", 2)
    opposite: bool = False  # the name asks for the others: "foreign" is "not English"


@dataclass(frozen=True)
class Entity:
    """Something a message named, where, and whether it was negated ("not Tarantino").

    Example:
        >>> Entity("director", ("Christopher Nolan",), "Christopher Nolan", (0, 17)).describe()
        'directed by Christopher Nolan'
    """

    kind: str
    values: tuple[str | int, ...]
    label: str
    span: tuple[int, int]
    negated: bool = False
    count: int = 0

    def field(self) -> FieldMatch:
        """The payload condition this entity stands for."""
        keys = {"director": ("directors",), "actor": ("cast",), "writer": ("writers",),
                "person": ("directors", "cast", "writers"), "company": ("companies",),
                "collection": ("collection",), "genre": ("genres",), "keyword": ("keywords", "tag_keys"),
                "language": ("original_language",), "country": ("countries",), "decade": ("decade",)}[self.kind]
        return FieldMatch(keys, tuple(self.values))

    def describe(self) -> str:
        """How the constraint reads in a sentence: "directed by X", "from Pixar", "in the 1990s"."""
        text = {"director": f"directed by {self.label}", "actor": f"starring {self.label}",
                "person": f"by or with {self.label}",
                "writer": f"written by {self.label}", "company": f"from {self.label}",
                "collection": f"in the {self.label} franchise", "genre": f"{self.label}",
                "keyword": f"about {self.label}", "language": f"in {self.label}",
                "country": f"made in {self.label}", "decade": f"from the {self.label}"}[self.kind]
        if not self.negated:
            return text
        return {"genre": f"no {self.label}", "keyword": f"not about {self.label}"}.get(self.kind, f"not {text}")


@dataclass
class ParsedQuery:
    """What one request asks for: named entities (filters or boosts), year and runtime ranges, referenced movies,
    and the semantic rest.

    Example:
        >>> q = ParsedQuery("90s comedies", semantic="", year_min=1990, year_max=1999)
        >>> q.filters().year_max, q.constrained()
        (1999, True)
    """

    text: str
    semantic: str = ""
    entities: list[Entity] = field(default_factory=list)
    year_min: int | None = None
    year_max: int | None = None
    years_label: str | None = None
    runtime_min: int | None = None
    runtime_max: int | None = None
    runtime_label: str | None = None
    references: list[int] = field(default_factory=list)  # movieIds the request is "like"
    reference_titles: list[str] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)  # "did you mean" titles for a title nobody has
    unknown_names: list[str] = field(default_factory=list)  # "Christopher Nolan" where nobody here has that name
    best: bool = False  # "the best heist movies": the well-rated first among those that match
    avoided: str = ""  # "scary but not gory": words ruled out that name nothing the catalog knows (not searched)
    newer: int = 0  # "newer" +1, "older" -1: than the movies the request is about (see anchored)
    shorter: int = 0  # "shorter" +1, "longer" -1
    tone: str = ""  # "lighter" -> "light", "darker" -> "dark", "date night" -> "romantic", "slow burn" -> "tense"...
    obscure: int = 0  # "less mainstream", "hidden gems" +1; "more mainstream" -1: the less (more) rated first
    no_sequels: list[int] = field(default_factory=list)  # "that aren't sequels": the later films of franchises
    said: str = ""  # the semantic query in the request's own words ("heist, darker"), for explanations
    guessed: int = 0  # how many of the entities are spelling corrections ("Cristopher Nolan", "hiest")
    softened: list[str] = field(default_factory=list)  # "not so scary horror": Horror, lighter (tone "light")

    def filters(self) -> Filters:
        """The hard constraints as store filters (topics are boosts, not filters: see :meth:`boosts`)."""
        hard = [e for e in self.entities if e.kind != "keyword"]
        return Filters(year_min=self.year_min, year_max=self.year_max, runtime_min=self.runtime_min,
                       runtime_max=self.runtime_max, match=[e.field() for e in hard if not e.negated],
                       exclude=[e.field() for e in hard if e.negated],
                       exclude_ids=[*self.references, *self.no_sequels])

    def boosts(self) -> list[Boost]:
        """Topics ("heist movies") as score bonuses: a movie whose keywords or tags name it first, then one whose
        title or overview mentions it; negated topics ("no zombies") are filters instead."""
        out: list[Boost] = []
        for e in self.entities:
            if e.kind == "keyword" and not e.negated:
                out.append(Boost(e.field(), KEYWORD_BOOST))
                out.append(Boost(FieldMatch(("title", "overview"), (e.label,)), MENTION_BOOST))
        return out

    def topic_filter(self) -> Filters | None:
        """Movies that name any of the topics (the candidates the boosts need), or None without topics."""
        topics = [e.label for e in self.entities if e.kind == "keyword" and not e.negated]
        if not topics:
            return None
        return Filters(match=[FieldMatch(("keywords", "tag_keys", "title", "overview"), tuple(topics))])

    def negated_topics(self) -> list[FieldMatch]:
        return [e.field() for e in self.entities if e.kind == "keyword" and e.negated]

    def constrained(self) -> bool:
        """Whether anything here is a hard constraint (what "only N movies here..." is about)."""
        return bool([e for e in self.entities if e.kind != "keyword"] or self.year_min is not None
                    or self.year_max is not None or self.runtime_min is not None or self.runtime_max is not None
                    or self.no_sequels)

    def understood(self) -> bool:
        """Whether the parser found anything beyond free text."""
        return bool(self.entities or self.references or self.constrained() or self.newer or self.shorter
                    or self.tone or self.obscure)

    def tone_only(self) -> bool:
        """Whether a tone is all this request asks about ("cheer me up", "something darker from the 90s"): no title,
        name, genre, topic or other words (years and runtimes may bound it)."""
        return bool(self.tone) and self.semantic == TONES.get(self.tone) and not (
            self.entities or self.references or self.obscure > 0)

    def only_guessed(self) -> bool:
        """Whether all the parser understood are spelling corrections: "the matirx" may be a title misspelt."""
        return bool(self.entities) and self.guessed == len(self.entities) and not (
            self.references or self.year_min or self.year_max or self.runtime_min or self.runtime_max)

    def anchored(self, about: Iterable[Mapping[str, Any]], newest_year: int) -> ParsedQuery:
        """This request with "newer", "older", "shorter" and "longer" made bounds: relative to the median year and
        runtime of the movies it is about (the payloads of a person's likes, of the referenced films), else to the
        catalog's "recent" and "classic" years and a short film's length.

        Example:
            >>> q = ParsedQuery("more like these but newer", newer=1)
            >>> q = q.anchored([{"year": 1994}, {"year": 1995}, {"year": 1999}], newest_year=2018)
            >>> q.year_min, q.describe()
            (1996, 'after 1995')
        """
        about = list(about)
        years = [int(p["year"]) for p in about if p.get("year")]
        runtimes = [int(p["runtime"]) for p in about if p.get("runtime")]
        out = replace(self)
        if self.newer:
            anchor = int(np.median(years)) if len(years) else None
            if self.newer > 0:
                lo = anchor + 1 if anchor is not None else newest_year - RECENT_YEARS
                out.year_min = lo if out.year_min is None else max(out.year_min, lo)
                label = f"after {lo - 1}"
            else:
                hi = anchor - 1 if anchor is not None else CLASSIC_BEFORE - 1
                out.year_max = hi if out.year_max is None else min(out.year_max, hi)
                label = f"before {hi + 1}"
            out.years_label = label if out.years_label is None else f"{out.years_label}, {label}"
        if self.shorter:
            length = float(np.median(runtimes)) if len(runtimes) else None
            if self.shorter > 0:
                hi = int(round(length * (1 - ABOUT_RUNTIME))) if length else SHORT_MINUTES
                out.runtime_max = hi if out.runtime_max is None else min(out.runtime_max, hi)
            else:
                lo = int(round(length * (1 + ABOUT_RUNTIME))) if length else LONG_MINUTES
                out.runtime_min = lo if out.runtime_min is None else max(out.runtime_min, lo)
            out.runtime_label = _runtime_label(out.runtime_min, out.runtime_max)
        return out

    def describe(self) -> str:
        """The constraints in words: "directed by Christopher Nolan, from the 1990s, under 90 minutes".

        Example:
            >>> ParsedQuery("x", year_min=1990, year_max=1999, years_label="1990s").describe()
            'from the 1990s'
        """
        parts = [e.describe() for e in self.entities if e.kind != "keyword"]
        if self.years_label:
            parts.append(self.years_label if self.years_label.startswith(("before", "after", "since", "from",
                                                                            "between", "in "))
                         else f"from the {self.years_label}")
        if self.runtime_label:
            parts.append(self.runtime_label)
        if self.no_sequels:
            parts.append("no sequels")
        return ", ".join(parts)


class Vocabulary:
    """Every name the catalog knows, normalised for lookup: people (with their credits as director, actor and
    writer), companies and their short names, franchises, genres, keywords and user tags, languages, countries,
    plus the titles (for "like X" and "did you mean").

    Example:
        >>> v = Vocabulary.from_payloads({1: {"title": "Toy Story", "year": 1995, "genres": ["Animation"],
        ...     "companies": ["Pixar Animation Studios"], "directors": ["John Lasseter"]}})
        >>> [e.kind for e in v.lookup("pixar")], v.newest_year
        (['company'], 1995)
    """

    def __init__(self, entries: Mapping[str, list[Entry]], titles: TitleIndex, newest_year: int,
                 common_words: set[str]) -> None:
        self._entries = dict(entries)
        self.titles = titles
        self.newest_year = newest_year
        self.common_words = common_words
        name_words: dict[str, set[str]] = defaultdict(set)
        topic_words: dict[str, set[str]] = defaultdict(set)
        for key, found in self._entries.items():
            if any(e.kind in ("person", "company", "collection") for e in found):
                for word in key.split():
                    if len(word) >= 4 and not word.isdigit():
                        name_words[word[:1]].add(word)
            if " " not in key and len(key) >= 5 and any(e.kind in ("keyword", "genre") for e in found):
                topic_words[key[:1]].add(key)
        self.known_words = common_words | {w for key in self._entries for w in key.split()}
        self._name_words = {letter: sorted(words) for letter, words in name_words.items()}
        self._topic_words = {letter: sorted(words) for letter, words in topic_words.items()}

    def lookup(self, key: str) -> list[Entry]:
        """The entries a normalised name stands for (several where a name is ambiguous)."""
        return self._entries.get(key, [])

    def correct(self, word: str) -> str | None:
        """The word of a person's, company's or franchise's name closest to a misspelt word, or None: compared
        only with name words of the same first letter, so a look-up stays cheap.

        Example:
            >>> v = Vocabulary.from_payloads({1: {"title": "Heat", "directors": ["Christopher Nolan"]}})
            >>> v.correct("cristopher")
            'christopher'
        """
        return _closest(word, self._name_words.get(word[:1]), fuzz.ratio, FUZZY_CUTOFF)

    def correct_topic(self, word: str) -> str | None:
        """The one-word topic (a keyword or genre word of five letters or more) closest to a misspelt word, or
        None; same first letter, and a swap of two letters is close enough ("hiest").

        Example:
            >>> v = Vocabulary.from_payloads({1: {"title": "Heat", "keywords": ["heist"]},
            ...                               2: {"title": "Ronin", "keywords": ["heist"]}})
            >>> v.correct_topic("hiest"), v.correct_topic("house")
            ('heist', None)
        """
        if len(word) < 5:
            return None
        return _closest(word, self._topic_words.get(word[:1]), DamerauLevenshtein.normalized_similarity,
                        TOPIC_FUZZY_CUTOFF)

    @classmethod
    def from_payloads(cls, payloads: Mapping[int, Mapping[str, Any]], titles: TitleIndex | None = None) -> Vocabulary:
        """The vocabulary of these payloads; ``titles``, when given, is their :class:`TitleIndex` already built
        (a Recommender has one), so it is not built twice."""
        credits: dict[str, Counter[str]] = defaultdict(Counter)
        display: dict[str, str] = {}
        companies: Counter[str] = Counter()
        collections: Counter[str] = Counter()
        keywords: Counter[str] = Counter()
        languages: Counter[str] = Counter()
        countries: Counter[str] = Counter()
        lower_words: Counter[str] = Counter()
        years = []
        for p in payloads.values():
            for role, key in (("director", "directors"), ("actor", "cast"), ("writer", "writers")):
                for name in p.get(key) or []:
                    norm = normalize(name)
                    if norm:
                        credits[norm][role] += 1
                        display.setdefault(norm, name)
            companies.update(p.get("companies") or [])
            if p.get("collection"):
                collections[p["collection"]] += 1
            keywords.update({k.casefold() for k in (p.get("keywords") or [])} | set(p.get("tag_keys") or []))
            if p.get("original_language"):
                languages[p["original_language"]] += 1
            countries.update(p.get("countries") or [])
            if p.get("year"):
                years.append(int(p["year"]))
            for text in (p.get("overview"), p.get("tagline")):
                if text:
                    lower_words.update(w for w in re.findall(r"\b[a-z]+\b", text))  # used in lowercase: a common word
        common = ({w for w, n in lower_words.items() if n >= 3} | FILLER | set(FILM_WORDS)
                  | {w for g in GENRE_WORDS for w in g.split()})
        entries: dict[str, list[Entry]] = defaultdict(list)
        titles = titles if titles is not None else TitleIndex(payloads)
        title_keys = {k for k in titles.keys}

        for norm, roles in credits.items():
            ordered = tuple(sorted(roles.items(), key=lambda rc: (-rc[1], rc[0])))
            entries[norm].append(Entry("person", (display[norm],), display[norm], sum(roles.values()),
                                       roles=ordered))
        _add_short_names(entries, credits, display, common)
        _add_places(entries, languages, countries)
        places = {key for key, found in entries.items() if any(e.kind in ("language", "country") for e in found)}
        reserved = places | set(GENRE_WORDS)  # "Horror Inc." is not what "horror films" means, nor "(Russian)"
        _add_companies(entries, companies, common | places, title_keys, reserved)
        _add_collections(entries, collections, common, reserved)
        for word, genre in GENRE_WORDS.items():
            entries[word].append(Entry("genre", (genre,), genre, 0, weak=word in WEAK_GENRE_WORDS))
        for spellings in _keyword_groups(keywords).values():
            n = sum(keywords[w] for w in spellings)
            for word in spellings:
                norm = normalize(word)
                if (n >= 2 and norm and not norm.isdigit() and len(norm) >= 3 and norm not in GENRE_WORDS
                        and not (set(norm.split()) <= _MEDIUM_WORDS | FILLER and set(norm.split()) & _MEDIUM_WORDS)):
                    # "best movies", "a movie set in": no topic; "love" (filler to the semantic query) still is one
                    entries[norm].append(Entry("keyword", tuple(spellings), spellings[0], n, weak=" " not in norm))
        return cls(entries, titles, max(years) if years else 2020, common)


def _keyword_groups(keywords: Counter[str]) -> dict[str, list[str]]:
    """Keywords that differ only by "a", "an" or "the", most used first: one topic ("based on a true story" is
    on 4 films, "based on true story" on 59).

    Example:
        >>> _keyword_groups(Counter({"based on true story": 59, "based on a true story": 4, "heist": 9}))
        {'based on true story': ['based on true story', 'based on a true story'], 'heist': ['heist']}
    """
    groups: dict[str, list[str]] = defaultdict(list)
    for word, _ in sorted(keywords.items(), key=lambda wn: (-wn[1], wn[0])):
        groups[" ".join(w for w in normalize(word).split() if w not in ("a", "an", "the"))].append(word)
    return dict(groups)


def _add_short_names(entries: dict[str, list[Entry]], credits: Mapping[str, Counter[str]],
                     display: Mapping[str, str], common: set[str]) -> None:
    """"Nolan" for Christopher Nolan, "Keanu" for Keanu Reeves: a surname or a first name stands for the person
    whose credits dwarf everyone else's with that name, first or last (three times as many, at least four: "Arnold"
    is Schwarzenegger, not Tom Arnold), and is not a common word."""
    by_surname: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for norm, roles in credits.items():
        words = norm.split()
        if len(words) >= 2:
            for name in {words[0], words[-1]}:
                by_surname[name].append((sum(roles.values()), norm))
    for surname, people in by_surname.items():
        if len(surname) < 4 or surname in common or surname in entries:
            continue
        people.sort(reverse=True)
        best, runner_up = people[0][0], (people[1][0] if len(people) > 1 else 0)
        if best >= 4 and best >= 3 * runner_up:
            norm = people[0][1]
            roles = credits[norm]
            entries[surname].append(Entry("person", (display[norm],), display[norm], best,
                                          roles=tuple(sorted(roles.items(), key=lambda rc: (-rc[1], rc[0])))))


def _core(words: list[str], drop: set[str]) -> list[str]:
    core = [w for w in words if w not in drop]
    return core or words


def _add_companies(entries: dict[str, list[Entry]], companies: Counter[str], common: set[str],
                   title_keys: set[str], reserved: set[str]) -> None:
    """Each company by its name, its name without "Pictures", "Studios"... ("Pixar", "Studio Ghibli" -> "Ghibli"),
    and by each distinctive word of that ("Disney" stands for every Disney company)."""
    by_alias: dict[str, set[str]] = defaultdict(set)
    for name in companies:
        words = normalize(name).split()
        if not words:
            continue
        by_alias[" ".join(words)].add(name)
        core = _core(words, COMPANY_SUFFIXES)
        if not all(w.isdigit() for w in core):  # "Media 8 Entertainment" is not "8"
            by_alias[" ".join(core)].add(name)
        for word in set(core):
            if len(word) >= 4 and word not in common and not word.isdigit():
                by_alias[word].add(name)
            elif word in common and len(core) == 1:
                by_alias[word].add(name)  # "Disney", "Pixar": the whole short name, common word or not
    for alias, names in by_alias.items():
        if alias in reserved:
            continue
        total = sum(companies[n] for n in names)
        single_word_alias = " " not in alias
        if single_word_alias and (alias in title_keys or total < 2 or alias in common) and not any(
                _core(normalize(n).split(), COMPANY_SUFFIXES) == [alias] for n in names):
            continue
        entries[alias].append(Entry("company", tuple(sorted(names)), _company_label(alias, names, companies), total,
                                    weak=alias in common))


def _company_label(alias: str, names: set[str], counts: Counter[str]) -> str:
    if len(names) == 1:
        return next(iter(names))
    exact = [n for n in names if normalize(n) == alias]
    return exact[0] if exact else " ".join(w.capitalize() for w in alias.split())


def _add_collections(entries: dict[str, list[Entry]], collections: Counter[str], common: set[str],
                     reserved: set[str]) -> None:
    """Franchises by name ("James Bond Collection"), without "Collection" ("James Bond", "Star Wars"), by the part
    before a colon ("Star Trek" for every Star Trek collection) and by a distinctive last word ("Bond", which
    counts only before a word like "films" or "franchise")."""
    by_alias: dict[str, set[str]] = defaultdict(set)
    weak: set[str] = set()
    for name in collections:
        words = normalize(name).split()
        if not words:
            continue
        by_alias[" ".join(words)].add(name)
        named = [w for w in words if w != "collection"]  # "Friday the 13th", "Planet of the Apes Original"
        by_alias[" ".join(named[1:] if named[:1] == ["the"] and len(named) > 1 else named)].add(name)
        core = _core([w for w in words if w not in ("collection", "the", "original", "series")], set())
        by_alias[" ".join(core)].add(name)
        if ":" in name:
            head = normalize(name.split(":")[0]).split()
            if head and head[0] != "the":
                by_alias[" ".join(head)].add(name)
        if len(core) >= 2 and len(core[-1]) >= 4 and not core[-1].isdigit() and core[-1] not in FILLER:
            by_alias[core[-1]].add(name)
            weak.add(core[-1])
    for alias, names in by_alias.items():
        if alias in reserved:
            continue
        if alias in weak and len(names) > 1:
            continue  # "Street" would mean several franchises: no short name
        total = sum(collections[n] for n in names)
        label = (next(iter(names)).replace(" Collection", "") if len(names) == 1
                 else " ".join(w.capitalize() for w in alias.split()))
        words = alias.split()  # "scary movie" reads as a kind of film, not the franchise, unless capitalised
        is_weak = alias in weak or (" " not in alias and alias in common) or (
            all(w in common for w in words) and any(w in FILM_WORDS or w in GENRE_WORDS for w in words))
        entries[alias].append(Entry("collection", tuple(sorted(names)), label, total, weak=is_weak))


def _add_places(entries: dict[str, list[Entry]], languages: Counter[str], countries: Counter[str]) -> None:
    import langcodes

    for code, n in languages.items():
        try:
            name = langcodes.Language.get(code).display_name()
        except (ValueError, LookupError):
            continue
        if name and "unknown" not in name.lower():
            entries[normalize(name)].append(Entry("language", (code,), name, n, weak=True))
    for code, n in countries.items():
        try:
            name = langcodes.Language.get(f"und-{code}").territory_name()
        except (ValueError, LookupError):
            continue
        if name and "unknown" not in name.lower():
            name = re.sub(r"\s+SAR China$", "", name)
            entries[normalize(name)].append(Entry("country", (code,), name, n))
    names = {code: e.label for es in entries.values() for e in es if e.kind == "country" for code in e.values}
    for word, code in DEMONYMS.items():
        if code in countries and not any(e.kind == "language" for e in entries.get(word, [])):
            entries[word].append(Entry("country", (code,), names.get(code, code), countries[code], weak=True))
    entries["foreign"].append(Entry("language", ("en",), "English", languages.get("en", 0), weak=True, opposite=True))
    if "uk" not in entries and "GB" in countries:
        entries["uk"].append(Entry("country", ("GB",), names.get("GB", "GB"), countries["GB"]))
    if "usa" not in entries and "US" in countries:
        entries["usa"].append(Entry("country", ("US",), names.get("US", "US"), countries["US"]))


# ---------------------------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class _Token:
    norm: str
    start: int
    end: int
    raw: str


_YEAR_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b(?:between|from)\s+(?P<a>1[89]\d\d|20\d\d)\s+(?:and|to|until|till|-)\s+(?P<b>1[89]\d\d|20\d\d)\b",
                re.I), "range"),
    (re.compile(r"\b(?P<a>1[89]\d\d|20\d\d)\s*(?:-|–|to)\s*(?P<b>1[89]\d\d|20\d\d)\b", re.I), "range"),
    (re.compile(r"\b(?:before|pre|earlier\s+than|older\s+than|prior\s+to)[\s-]+(?P<a>1[89]\d\d|20\d\d)\b", re.I),
     "before"),
    (re.compile(r"\b(?:until|till|up\s+to|through)\s+(?P<a>1[89]\d\d|20\d\d)\b", re.I), "until"),
    (re.compile(r"\b(?:after|post|later\s+than|newer\s+than)[\s-]+(?P<a>1[89]\d\d|20\d\d)\b", re.I), "after"),
    (re.compile(r"\b(?:since|from)\s+(?P<a>1[89]\d\d|20\d\d)\s*(?:on(?:wards?)?|or\s+later|and\s+later|\+)", re.I),
     "since"),
    (re.compile(r"\bsince\s+(?P<a>1[89]\d\d|20\d\d)\b", re.I), "since"),
    (re.compile(r"\b(?P<a>1[89]\d\d|20\d\d)\s+(?:or|and)\s+(?:later|newer|after)\b", re.I), "since"),
    (re.compile(r"\b(?P<a>1[89]\d\d|20\d\d)\s+(?:or|and)\s+(?:earlier|older|before)\b", re.I), "until"),
    (re.compile(r"\b(?P<part>early|mid|late)[\s-]+(?:(?:the\s+)?(?:19|20)?(?P<d>\d)0['’]?s|(?P<w>twenties|thirties|"
                r"forties|fifties|sixties|seventies|eighties|nineties))\b", re.I), "part"),
    (re.compile(r"(?<![\w'’])['’]?(?P<c>19|20)?(?P<d>\d)0['’]?s\b", re.I), "decade"),
    (re.compile(r"\b(?P<w>twenties|thirties|forties|fifties|sixties|seventies|eighties|nineties)\b", re.I), "decade"),
    (re.compile(r"\b(?:in|from|of|year)\s+(?P<a>1[89]\d\d|20\d\d)\b", re.I), "year"),
    (re.compile(r"\b(?P<a>1[89]\d\d|20\d\d)\s+(?:movies|films|releases)\b", re.I), "year"),
    (re.compile(r"\b(?:the\s+)?(?:last|past)\s+(?:(?P<n>\d{1,2}|two|three|four|five|six|seven|eight|nine|ten|twenty|"
                r"few|couple\s+of)\s+years|(?P<dec>decade))\b", re.I), "last"),
    (re.compile(r"(?<!\bmore\s)(?<!\bless\s)\b(?:recent|recently|latest|newest|new\s+releases?)\b", re.I), "recent"),
    (re.compile(r"\b(?:old|older|classic|vintage)\s+(?:movies|films|ones|hollywood|stuff|pictures)\b|\bclassics\b",
                re.I), "classic"),
]
_LAST_YEARS = {**COUNT_WORDS, "few": 3, "couple": 2}
#: a bound denied within its clause ("nothing older than 2000", "don't show me anything before 1990")
_DENIED = re.compile(r"\b(?:no|not|nothing|never|none|don'?t|do\s+not|without)\b(?P<gap>[^,.;!?]*)$", re.I)
_DENIED_GAP = {"show", "me", "us", "give", "recommend", "suggest", "anything", "any", "something", "movies", "films",
               "movie", "film", "ones", "stuff", "that", "which", "is", "are", "was", "were", "released", "made",
               "want", "i", "to", "see", "watch", "please", "really", "too", "much"}
_UNIT = r"(?P<unit>minutes?|mins?|m|hours?|hrs?|h)\b(?P<half_after>\s+and\s+a\s+half)?"
_AMOUNT = r"(?P<n>\d{1,3}(?:\.\d)?|one|two|three|four|an|a)(?P<half>\s+and\s+a\s+half)?"
_RUNTIME_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"\b(?:(?P<strict>under|less\s+than|shorter\s+than|below)|at\s+most|no\s+(?:more|longer)\s+than|"
                rf"max(?:imum)?|up\s+to|within|not\s+over)\s+{_AMOUNT}[\s-]*{_UNIT}", re.I), "max"),
    (re.compile(rf"\b(?:(?P<strict>over|more\s+than|longer\s+than|above)|at\s+least|min(?:imum)?)\s+{_AMOUNT}"
                rf"[\s-]*{_UNIT}", re.I), "min"),
    (re.compile(rf"\b{_AMOUNT}[\s-]*{_UNIT}\s+(?:or|and)\s+(?:less|shorter|under)\b", re.I), "max"),
    (re.compile(rf"\b{_AMOUNT}[\s-]*{_UNIT}\s+(?:or|and)\s+(?:more|longer|over)\b", re.I), "min"),
    (re.compile(r"\b(?P<word>short|quick)\s+(?:[a-z-]+\s+)?(?:movies?|films?|flicks?|ones|watch(?:es)?|"
                r"comed(?:y|ies)|dramas?|thrillers?|westerns?|musicals?|documentar(?:y|ies)|cartoons?|romances?|"
                r"rom-?coms?|myster(?:y|ies)|adventures?|animations?|horrors?)\b", re.I), "short"),
    (re.compile(r"\b(?:something|anything)\s+(?P<word>short|quick)\b", re.I), "short"),
    (re.compile(r"^\s*(?:an?\s+)?(?P<word>short|quick)\b(?!\s+(?:story|stories|circuit|term))", re.I), "short"),
    (re.compile(r"\b(?:isn'?t|is\s+not|aren'?t|are\s+not|not|nothing)\s+(?P<word>(?:too|very|overly|that)\s+long)\b",
                re.I), "not long"),
    (re.compile(rf"\b(?:about|around|roughly|approximately)\s+{_AMOUNT}[\s-]*{_UNIT}", re.I), "about"),
    (re.compile(rf"\b{_AMOUNT}[\s-]*{_UNIT}(?:[\s-]+long)?(?=\s+(?:movie|film|flick|one)s?\b)", re.I), "about"),
]
#: "a 2 hour movie", "about 90 minutes": this share of the length either way
ABOUT_RUNTIME = 0.15
#: who the film is for: "for the kids", "family-friendly", "for my 8 year old" (a child up to CHILD_AGE) ask for
#: MovieLens' Children genre; an older age ("my 15-year-old") is read, so that its number searches nothing
CHILD_AGE = 12
_AUDIENCE = re.compile(
    r"\b(?:kids?|family|child|children)[\s-]+friendly\b"
    r"|\b(?:for|with)\s+(?:(?:the|my|our|your|a|young|little|small|whole|entire)\s+)*(?:kids|children|toddlers|little\s+ones|"
    r"family|grandkids|grandchildren)\b"
    r"|\b(?:(?:for|with)\s+)?(?:(?:my|our|your|an?)\s+)?(?P<age>\d{1,2})[\s-]*(?:years?|yrs?)[\s-]*olds?\b"
    r"|\b(?:(?:for|with)\s+)?(?:(?:my|our|your|an?)\s+)?(?P<age2>\d{1,2})\s*(?:yo|y/o)\b", re.I)
#: "animated movies for adults", "for grown-ups": no Children's films
_ADULTS = re.compile(r"\b(?:for|with)\s+(?:(?:the|other|just|only)\s+)?(?:adults|grown[\s-]?ups)\b"
                     r"|\bgrown[\s-]?up\b", re.I)
_LIKE = re.compile(r"\b(?:(?<!\bi\s)(?<!\bwe\s)(?<!\bthey\s)(?<!\byou\s)(?<!\bwould\s)(?<!\bd\s)like|similar\s+to|"
                   r"reminds?\s+me\s+of|in\s+the\s+(?:style|vein|spirit)\s+of|the\s+same\s+as|along\s+the\s+lines\s+of|"
                   r"such\s+as|as\s+good\s+as)\s+", re.I)
_REFERENCE_END = re.compile(r"\s*(?:[.,;:!?()]|\b(?:but|and|or|with|without|from|by|starring|that|which|who|only|"
                            r"except|in|except|before|after|since|under|over|no|not)\b)", re.I)


#: words asking for the well-rated: "the best heist movies", "top-rated comedies", "acclaimed dramas"
_BEST = re.compile(r"\b(?:best|greatest|finest|top|top[- ]rated|highest[- ]rated|highly[- ]rated|best[- ]rated|"
                   r"acclaimed|must[- ]see)\b", re.I)
#: "Oscar winners", "award-winning": the data holds no awards, so the well-rated stand for them (the words are no
#: topic: "oscar" matched The Odd Couple's overview)
_AWARDS = re.compile(r"\b(?:(?:award|oscar|academy[- ]award)[- ]winn(?:ing|ers?)|oscar[- ](?:winners?|worthy)|"
                     r"won\s+(?:an?\s+)?(?:oscars?|academy\s+awards?))\b", re.I)


def parse_query(text: str, vocab: Vocabulary, *, fix_topics: bool = True, rule_out: bool = True,
                compare: bool | None = None) -> ParsedQuery:
    """Read a request into a :class:`ParsedQuery`, recognising names against the catalog's vocabularies; a
    misspelt name or one-word topic is corrected (``fix_topics=False`` leaves topics as typed), and a clause that
    rules out a description ("but not gory") is kept out of the semantic query (``rule_out=False`` searches it, as
    the parser once did); "newer", "shorter", "lighter" are comparisons (``compare=False``, or
    :data:`READ_COMPARISONS` off, searches the words instead). The switches are there to measure what each adds.

    Example:
        >>> v = Vocabulary.from_payloads({
        ...     1: {"title": "Toy Story", "year": 1995, "genres": ["Animation"], "companies": ["Pixar"]},
        ...     2: {"title": "Inception", "year": 2010, "directors": ["Christopher Nolan"]}})
        >>> q = parse_query("Pixar movies from the 90s, not Christopher Nolan", v)
        >>> [(e.kind, e.label, e.negated) for e in q.entities], q.year_min, q.year_max
        ([('company', 'Pixar', False), ('director', 'Christopher Nolan', True)], 1990, 1999)
        >>> q = parse_query("like Toy Story but darker", v)
        >>> q.references, q.tone, q.semantic
        ([1], 'dark', 'a dark, grim and disturbing story')
    """
    compare = READ_COMPARISONS if compare is None else compare
    query = ParsedQuery(text=text, best=bool(_BEST.search(text) or _AWARDS.search(text)))
    tokens = [_Token(normalize(m.group()), m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]
    tokens = [t for t in tokens if t.norm]
    for t in tokens:  # "Nolan's films": the possessive belongs to the name
        if t.norm.endswith("s") and re.search(r"['’]s$", t.raw, re.I):
            t.norm = t.norm[:-1]
    starts = [t.start for t in tokens]
    used = [False] * len(tokens)

    def claim(start: int, end: int) -> None:
        for i in range(bisect_left(starts, start), bisect_right(starts, end - 1)):
            if tokens[i].end <= end:
                used[i] = True

    for m in (*_AWARDS.finditer(text), *_MOOD.finditer(text)):  # no topic: "mood" found 2046
        claim(m.start(), m.end())

    _references(text, tokens, starts, used, query, vocab, claim)
    _years(text, query, vocab, claim, used, tokens, starts)
    _runtimes(text, query, claim)
    tone_word = _comparatives(text, query, claim, used, tokens, starts) if compare else ""
    _audience(text, query, claim)
    for m in _NO_SEQUELS.finditer(text):
        query.no_sequels = sorted(vocab.titles.sequels)
        claim(m.start(), m.end())
    topical = _entities(tokens, used, query, vocab, fix_topics)
    avoided = _avoided(text, tokens, used) if rule_out else set()
    query.avoided = " ".join(tokens[i].raw for i in sorted(avoided)
                             if tokens[i].norm not in FILLER | _EXCLUDING | _DEGREE)
    rest = [t for i, t in enumerate(tokens) if (not used[i] or topical[i]) and i not in avoided]
    meaningful = [t for t in rest if t.norm not in FILLER]
    if query.understood() or any(not t.norm.isdigit() for t in meaningful):
        meaningful = [t for t in meaningful if not t.norm.isdigit()]  # "top 10 movies of 1999": no "10" to search
    if meaningful:
        first = rest.index(meaningful[0])
        last = rest.index(meaningful[-1])
        query.semantic = " ".join(t.raw for t in rest[first:last + 1] if t.norm not in ("but",)).strip()
    query.said = ", ".join(w for w in (query.semantic, tone_word) if w)
    if query.tone:
        query.semantic = f"{query.semantic}, {TONES[query.tone]}" if query.semantic else TONES[query.tone]
    unknown_words = (not query.understood() and query.semantic and len(meaningful) <= 6
                     and any(_unknown(t.norm, vocab) for t in meaningful))
    if unknown_words or (query.only_guessed() and len(tokens) <= 6):  # "the matirx": a title before a topic
        query.suggestions = query.suggestions or _did_you_mean(text, vocab)
    query.unknown_names = _unknown_names(tokens, used, vocab)
    return query


def _unknown_names(tokens: list[_Token], used: list[bool], vocab: Vocabulary) -> list[str]:
    """Runs of two or more capitalised words left over, one of them a word the catalog never uses: a name (a
    person, a studio) nobody here has, which the answer should own up to rather than match by meaning."""
    out: list[str] = []
    run: list[_Token] = []
    long_words = [t for t in tokens if len(t.raw) >= 4]
    if len(long_words) >= 3 and all(t.raw[:1].isupper() for t in long_words):
        return out  # "A Heist That Goes Wrong": a title-cased message says nothing about names
    for i, t in enumerate([*tokens, None]):
        if t is not None and not used[i] and t.raw[:1].isupper() and t.norm not in FILLER:
            run.append(t)
            continue
        if len(run) >= 2 and any(_unknown(r.norm, vocab) for r in run):
            name = " ".join(r.raw for r in run)
            if not vocab.titles.exact(name):
                out.append(name)
        run = []
    return out


def _references(text: str, tokens: list[_Token], starts: list[int], used: list[bool], query: ParsedQuery,
                vocab: Vocabulary, claim: Any) -> None:
    """"like Toy Story", "similar to Heat": the longest exact title after the cue, else a close title."""
    fuzzy_left = 3
    for cue in _LIKE.finditer(text):
        begin = cue.end()
        first = bisect_left(starts, begin)
        if first >= len(tokens):
            continue
        stop = _REFERENCE_END.search(text, tokens[first].end, begin + MAX_TITLE_CHARS)  # bounded: linear in the text
        limit = stop.start() if stop else min(len(text), begin + MAX_TITLE_CHARS)
        last = bisect_right(starts, max(limit - 1, begin))
        # an exact title may run past a word that usually ends one ("like Lost in Translation", "like The Man Who
        # Knew Too Much"), never past punctuation
        clause = re.search(r"[.,;:!?()]", text[begin:begin + MAX_TITLE_CHARS])
        longest = bisect_right(starts, begin + (clause.start() if clause else MAX_TITLE_CHARS) - 1)
        found = None
        for j in range(min(max(last, longest), first + 12), first, -1):
            phrase = text[tokens[first].start:tokens[j - 1].end]
            if tokens[first].norm in ("a", "an") and not tokens[first].raw[:1].isupper():
                break  # "like a heist": a kind of film, not the title "Heist"
            if j < last and (tokens[j].raw[:1].isupper() or tokens[j].norm in SEQUEL_NUMBERS):
                continue  # "like Toy Storry 2" is no "Toy", "like Toy Story 4" no Toy Story: the rest is the title
            series = vocab.titles.series(phrase)  # "like Harry Potter": its films, not the franchise itself
            ids = series or vocab.titles.exact(phrase)
            if ids:
                found = (series or [max(ids, key=lambda m: _popularity(vocab, m))], j)
                break
        if found is None and fuzzy_left > 0 and last > first:
            fuzzy_left -= 1
            phrase = text[tokens[first].start:tokens[last - 1].end]
            if normalize(phrase) not in FILLER and tokens[first].norm not in FILLER:
                close = _close_titles(phrase, vocab)
                best = [b for b in close if same_number(phrase, vocab.titles.display[vocab.titles.ids.index(b[0])])]
                if best and best[0][1] >= 90:
                    found = ([best[0][0]], last)
                elif close and len(phrase) >= 4:
                    query.suggestions.extend(vocab.titles.display[vocab.titles.ids.index(m)] for m, _ in close)
        if found is None:
            continue
        ids, end = found
        while True:  # "like Heat and Alien", "like Heat, Alien and Ronin": the titles listed after the first
            more = re.match(r"\s*(?:,\s*(?:and\s+)?|and\s+|&\s*|or\s+)", text[tokens[end - 1].end:])
            nxt = bisect_left(starts, tokens[end - 1].end + more.end()) if more else len(tokens)
            if nxt >= len(tokens) or not (tokens[nxt].raw[:1].isupper() or tokens[nxt].raw[:1].isdigit()):
                break  # a listed title is written as one ("like Heat and more", not the film More)
            title = next((j for j in range(min(len(tokens), nxt + 12), nxt, -1)
                          if vocab.titles.exact(text[tokens[nxt].start:tokens[j - 1].end])), None)
            if title is None:
                break
            listed = vocab.titles.exact(text[tokens[nxt].start:tokens[title - 1].end])
            ids, end = [*ids, max(listed, key=lambda m: _popularity(vocab, m))], title
        for movie_id in ids:
            if movie_id not in query.references:
                query.references.append(movie_id)
                query.reference_titles.append(vocab.titles.display[vocab.titles.ids.index(movie_id)])
        claim(cue.start(), tokens[end - 1].end)


def _popularity(vocab: Vocabulary, movie_id: int) -> int:
    return vocab.titles.rating_counts.get(movie_id, 0)


def _years(text: str, query: ParsedQuery, vocab: Vocabulary, claim: Any, used: list[bool], tokens: list[_Token],
           starts: list[int]) -> None:
    def free(m: re.Match[str]) -> bool:
        i = bisect_left(starts, m.start())
        return i >= len(tokens) or not used[i]

    for pattern, kind in _YEAR_PATTERNS:
        for m in pattern.finditer(text):
            if not free(m):
                continue
            lo: int | None
            hi: int | None
            if kind == "range":
                lo, hi = sorted((int(m.group("a")), int(m.group("b"))))
                label = f"between {lo} and {hi}"
            elif kind in ("before", "until", "after", "since"):
                year = int(m.group("a"))
                first = {"before": year, "until": year + 1, "after": year + 1, "since": year}[kind]  # of the later
                later = kind in ("after", "since")
                denied = _DENIED.search(text, max(0, m.start() - 40), m.start())  # "nothing older than 2000"
                if denied and set(denied.group("gap").lower().split()) <= _DENIED_GAP:  # not "not by Spielberg ..."
                    later = not later
                    claim(denied.start(), m.start())
                lo, hi = (first, None) if later else (None, first - 1)
                label = (f"after {first - 1}" if kind == "after" else f"since {first}") if later else f"before {first}"
            elif kind in ("decade", "part"):
                decade = _decade(m)
                if decade is None:
                    continue
                lo, hi, label = decade, decade + 9, f"{decade}s"
                if kind == "part":
                    part = m.group("part").lower()
                    lo, hi = {"early": (decade, decade + 3), "mid": (decade + 3, decade + 6),
                              "late": (decade + 6, decade + 9)}[part]
                    label = f"{part} {decade}s"
                elif _negated_before(text, m.start()):
                    query.entities.append(Entity("decade", (decade,), f"{decade}s", (m.start(), m.end()), True))
                    claim(_negation_start(text, m.start()), m.end())
                    continue
            elif kind == "year":
                lo = hi = int(m.group("a"))
                label = f"in {lo}"
            elif kind == "last":  # "from the last 10 years", "the past decade": up to the catalogue's newest year
                n = m.group("n")
                span = 10 if n is None else int(n) if n.isdigit() else _LAST_YEARS.get(n.lower().split()[0], 3)
                lo, hi, label = vocab.newest_year - span + 1, None, f"since {vocab.newest_year - span + 1}"
            elif kind == "recent":
                lo, hi, label = vocab.newest_year - RECENT_YEARS, None, f"since {vocab.newest_year - RECENT_YEARS}"
            else:  # classic
                lo, hi, label = None, CLASSIC_BEFORE - 1, f"before {CLASSIC_BEFORE}"
            query.year_min = lo if query.year_min is None or lo is None else max(query.year_min, lo)
            query.year_max = hi if query.year_max is None or hi is None else min(query.year_max, hi)
            if lo is None and query.year_min is not None and query.year_max is None:
                query.year_max = hi
            query.years_label = label if query.years_label is None else f"{query.years_label}, {label}"
            claim(m.start(), m.end())


def _decade(m: re.Match[str]) -> int | None:
    groups = m.groupdict()
    if groups.get("w"):
        return DECADE_WORDS[groups["w"].lower()]
    digit = int(groups["d"])
    century = groups.get("c")
    if century:
        return int(century) * 100 + digit * 10
    return 2000 + digit * 10 if digit <= 2 else 1900 + digit * 10


#: "I'm (not) in the mood for ...": what follows is the request (or what is ruled out), the words are none
_MOOD = re.compile(r"\b(?:(?:i'?m|i\s+am|we'?re|we\s+are)\s+)?(?:not\s+)?in\s+the\s+mood\s+for\b(?!\s+love\b)",
                   re.I)
_NOT_IN_THE_MOOD = re.compile(r"\bnot\s+in\s+the\s+mood\s+for(?:\s+(?:anything|something|a|an|any))?"
                              r"(?:\s+(?:too|very|so|that))?\s*$", re.I)
_NOT_IN_THE_MOOD_NORM = re.compile(r"\bnot in the mood for(?: anything| something| a| an| any)?(?: too| very| so)?"
                                   r"$")


def _negated_before(text: str, at: int) -> bool:
    """Whether a negation leads up to ``at`` within its clause ("no 80s", "not from the 90s"; not "no horror, 90s")."""
    if _NOT_IN_THE_MOOD.search(text[max(0, at - 60):at]):  # "not in the mood for anything heavy"
        return True
    window = re.split(r"[,.;:!?]", text[max(0, at - 24):at])[-1]
    before = normalize(window).split()[-3:]
    return bool(before) and any(w in NEGATIONS - {"but"} for w in before) and "like" not in before


def _negation_start(text: str, at: int) -> int:
    window = text[max(0, at - 24):at]
    m = re.search(r"\b(?:no|not|without|except|excluding|nothing|avoid|skip|isn'?t|aren'?t)(?![\w'])[^.;!?]*$",
                  window, re.I)
    return max(0, at - 24) + m.start() if m else at


def _runtimes(text: str, query: ParsedQuery, claim: Any) -> None:
    taken: list[tuple[int, int]] = []
    for pattern, kind in _RUNTIME_PATTERNS:
        for m in pattern.finditer(text):
            if any(m.start() < end and start < m.end() for start, end in taken):
                continue  # "under 2 hour movies" is read once
            taken.append(m.span())
            span = m.span()
            if kind == "short":  # only the word: "a short horror movie" is still horror
                minutes = SHORT_MINUTES
                kind = "max"
                span = m.span("word")
                if not re.match(r"\s*films?\b", text[m.end("word"):], re.I) and query.runtime_min is None:
                    query.runtime_min = FEATURE_MINUTES  # "something short for tonight" is no 7-minute short
            elif kind == "not long":  # "sci-fi that isn't too long": not a long film
                minutes, kind = LONG_MINUTES - 1, "max"
            else:
                amount = m.group("n").lower()
                value = float(NUMBER_WORDS[amount]) if amount in NUMBER_WORDS else float(amount)
                if m.group("half") or m.group("half_after"):  # "one and a half hours", "an hour and a half"
                    value += 0.5
                minutes = int(round(value * 60)) if m.group("unit").lower().startswith("h") else int(value)
                if m.groupdict().get("strict"):  # "under 90 minutes" leaves out a 90-minute film
                    minutes += -1 if kind == "max" else 1
            if kind == "about":
                query.runtime_min = int(round(minutes * (1 - ABOUT_RUNTIME)))
                query.runtime_max = int(round(minutes * (1 + ABOUT_RUNTIME)))
                query.runtime_label = f"about {minutes} minutes"
            else:
                if kind == "max":
                    query.runtime_max = minutes if query.runtime_max is None else min(query.runtime_max, minutes)
                else:
                    query.runtime_min = minutes if query.runtime_min is None else max(query.runtime_min, minutes)
                query.runtime_label = _runtime_label(query.runtime_min, query.runtime_max)
            claim(*span)


def _runtime_label(lo: int | None, hi: int | None) -> str:
    """A runtime range in words: "90 to 120 minutes", "at most 90 minutes", "at least 120 minutes"."""
    if lo is not None and hi is not None:
        return f"{lo} to {hi} minutes"
    return f"at most {hi} minutes" if hi is not None else f"at least {lo} minutes"


#: words that open a clause ruling something out ("but not gory", "nothing too violent"); "without" only where it
#: follows a kind of film ("comedies without ..."), as "a world without colour" describes a plot
_EXCLUDING = {"not", "no", "nothing", "avoid", "skip", "except", "excluding", "minus", "without"}
_DEGREE = {"so", "too", "very", "overly", "much", "that", "really", "as", "quite", "particularly", "lot", "many"}
_CLAUSE_START = {"but", "and", "though", "just", "please", "ideally", "preferably", "only", "yet"}
_CLAUSE_END = {"and", "but", "or", "with", "that", "which", "who", "where", "set", "from", "in", "about", "starring",
               "by", "like"}


def _avoided(text: str, tokens: list[_Token], used: list[bool]) -> set[int]:
    """The words of each clause that rules something out ("scary but not gory", "funny, nothing too silly"), its
    negation included: they must not steer the search towards what was ruled out. Names, genres and topics in such
    a clause are entities, negated already."""
    out: set[int] = set()

    def boundary(i: int) -> bool:
        return i == 0 or bool(re.search(r"[,;.:!?()]", text[tokens[i - 1].end:tokens[i].start]))

    i = 0
    while i < len(tokens):
        word = tokens[i].norm
        opens = boundary(i) or (i > 0 and tokens[i - 1].norm in _CLAUSE_START)
        after_kind = i > 0 and (used[i - 1] or tokens[i - 1].norm in FILM_WORDS | set(GENRE_WORDS))
        if word in _EXCLUDING and not used[i] and (opens if word != "without" else opens or after_kind):
            j = i + 1
            while j < len(tokens) and not used[j] and not boundary(j) and tokens[j].norm not in _CLAUSE_END:
                j += 1
            if j > i + 1:
                out.update(range(i, j))
            i = j
        else:
            i += 1
    return out


_COMPARATIVES: list[tuple[re.Pattern[str], str, Any]] = [
    (re.compile(r"\b(?:newer|more\s+recent|more\s+modern|less\s+old)\b", re.I), "newer", 1),
    (re.compile(r"\b(?:older|earlier|less\s+recent|less\s+modern)\b", re.I), "newer", -1),
    (re.compile(r"\bshorter\b", re.I), "shorter", 1),
    (re.compile(r"\blonger\b", re.I), "shorter", -1),
    (re.compile(r"\b(?:lighter|light[\s-]?hearted|funnier|happier|cheerier|sillier|feel[\s-]?good|uplifting|"
                r"cheer\s+(?:me|us)\s+up|more\s+(?:fun|upbeat|cheerful|light)|"
                # the person's mood, not the film's: "I'm sad, cheer me up", "feeling down", "after a rough day"
                r"(?:i'?m|i\s+am|we'?re|(?:i'?m\s+)?feeling|i\s+feel)\s+(?:so\s+|really\s+|very\s+|a\s+bit\s+|"
                r"kind\s+of\s+|pretty\s+|quite\s+)?(?:sad|down|blue|depressed|low|gloomy|miserable|stressed)|"
                r"(?:(?:i\s+|we\s+)?had\s+(?:a\s+|such\s+a\s+)?|after\s+(?:a\s+)?)?"
                r"(?:bad|rough|hard|awful|terrible|long|tough)\s+(?:day|week)|less\s+(?:dark|serious|heavy|sad|"
                r"depressing|intense|grim|bleak|violent|disturbing))\b", re.I), "tone", "light"),
    (re.compile(r"\b(?:darker|grittier|heavier|heavy(?!\s+metal)|bleaker|grimmer|more\s+(?:serious|intense|dark|violent|disturbing|"
                r"grim)|less\s+(?:funny|light|silly|cheerful|upbeat))\b", re.I), "tone", "dark"),
    (re.compile(r"\b(?:sad|sadder|depressing|heartbreaking|tear[\s-]?jerkers?|weepies?|more\s+(?:moving|emotional)|"
                r"(?:makes?|made)\s+(?:me|us)\s+cry|(?:want|need)\s+to\s+cry|cry\s+my\s+eyes\s+out)\b", re.I),
     "tone", "sad"),
    (re.compile(r"\b(?:(?:for|on)\s+(?:a|our)\s+(?:first\s+)?date(?:[\s-]+night)?|(?:a\s+|our\s+)?date[\s-]+night|"
                r"more\s+romantic)\b", re.I), "tone", "romantic"),
    (re.compile(r"\bslow[\s-]+burn(?:ing|er)?s?\b", re.I), "tone", "tense"),
    (re.compile(r"\b(?:mind[\s-]+(?:bending|bender|blowing|blowers?|benders?|fucks?|melting)|trippy|puzzl(?:e|ing)\s+box|"
                r"messes\s+with\s+(?:your|my)\s+(?:head|mind))\b", re.I), "tone", "mind"),
    (re.compile(r"\b(?:less\s+(?:mainstream|popular|known|obvious|famous|commercial)|lesser[\s-]+known|"
                r"little[\s-]+known|(?:more\s+)?obscure|underrated|under[\s-]+the[\s-]+radar|under[\s-]?seen|"
                r"hidden\s+gems?|deep\s+cuts?|off\s+the\s+beaten\s+(?:path|track)|not\s+(?:so\s+|too\s+|very\s+)?"
                r"(?:mainstream|popular|obvious|famous|well[\s-]known)|(?:that|which)\s+(?:nobody|no\s+one|few\s+"
                r"people)\s+(?:has|have)\s+(?:seen|heard\s+of))\b", re.I), "obscure", 1),
    (re.compile(r"\b(?:more\s+(?:mainstream|popular|famous|well[\s-]known)|crowd[\s-]pleasers?|"
                r"blockbusters?)\b", re.I), "obscure", -1),
]
#: "Pixar movies that aren't sequels", "no sequels", "non-sequel": the first film of each franchise only
_NO_SEQUELS = re.compile(r"\b(?:(?:that|which)\s+(?:are\s+not|aren'?t|is\s+not|isn'?t)|not|no|without|except|"
                         r"excluding|but\s+not|non)[\s-]+(?:an?\s+|any\s+)?(?:sequels?|prequels?|follow[\s-]?ups?)\b",
                         re.I)
#: the words of an "obscure" request that also ask for the well-rated: a gem is good
_GEM = re.compile(r"\b(?:hidden\s+gems?|underrated|under[\s-]?seen)\b", re.I)


def _comparatives(text: str, query: ParsedQuery, claim: Any, used: list[bool], tokens: list[_Token],
                  starts: list[int]) -> str:
    """"but newer", "something lighter", "shorter": comparisons (see :meth:`ParsedQuery.anchored` and TONES).
    Runs after the years and runtimes, so "older than 1990" and "longer than 2 hours" are theirs. Returns the
    words that asked for a tone ("darker")."""
    tone_word = ""
    for pattern, name, value in _COMPARATIVES:
        for m in pattern.finditer(text):
            i = bisect_left(starts, m.start())
            if i < len(tokens) and used[i]:
                continue
            negated = _negated_before(text, m.start()) and not m.group().lower().startswith("not")
            if negated and (name != "tone" or value == "light"):
                continue
            setattr(query, name, "light" if negated else value)  # "nothing sad", "not too dark": light
            start = _negation_start(text, m.start()) if negated else m.start()
            if name in ("tone", "obscure"):
                tone_word = ", ".join(w for w in (tone_word, text[start:m.end()]) if w)
            if name == "obscure" and _GEM.fullmatch(m.group()):
                query.best = True
            claim(start, m.end())
    return tone_word


def _audience(text: str, query: ParsedQuery, claim: Any) -> None:
    for m in _AUDIENCE.finditer(text):
        age = m.group("age") or m.group("age2")
        if age is None or int(age) <= CHILD_AGE:
            negated = _negated_before(text, m.start())
            if ("genre", ("Children",)) not in {(e.kind, e.values) for e in query.entities}:
                query.entities.append(Entity("genre", ("Children",), "Children", m.span(), negated))
            claim(_negation_start(text, m.start()) if negated else m.start(), m.end())
        else:
            claim(m.start(), m.end())
    for m in _ADULTS.finditer(text):
        if ("genre", ("Children",)) not in {(e.kind, e.values) for e in query.entities}:
            query.entities.append(Entity("genre", ("Children",), "Children", m.span(), True))
        claim(m.start(), m.end())


def _entities(tokens: list[_Token], used: list[bool], query: ParsedQuery, vocab: Vocabulary,
              fix_topics: bool = True) -> list[bool]:
    """One left-to-right pass: at each free word, the longest name that the catalog knows and the context allows.
    Returns which words name a topic: those stay in the semantic query too (a topic is a boost, not a filter)."""
    n = len(tokens)
    topical = [False] * n
    norms = [t.norm for t in tokens]
    content = [0]  # how many words up to each position carry meaning (not filler, not a film word)
    for w in norms:
        content.append(content[-1] + (w not in FILM_WORDS and w not in FILLER))
    found: set[tuple[str, tuple[str | int, ...]]] = set()
    mild: set[tuple[str, tuple[str | int, ...]]] = set()  # genres first named as "not too" them
    fuzzy_left = MAX_FUZZY_LOOKUPS
    i = 0
    while i < n:
        if used[i]:
            i += 1
            continue
        match: tuple[Entry, int] | None = _short_first_name(norms, i, used, vocab)
        for length in range(min(MAX_NAME_WORDS, n - i), 0, -1) if match is None else ():
            if any(used[i:i + length]):
                continue
            entries = vocab.lookup(" ".join(norms[i:i + length]))
            if entries:
                entry = _choose(entries, tokens, norms, i, i + length, used,
                                content[-1] == content[i + length] - content[i])
                if entry is not None:
                    match = (entry, length)
                    break
        guessed = False
        if match is None and fuzzy_left > 0 and _unknown(norms[i], vocab):
            fuzzy_left -= 1
            match = _fuzzy_match(norms, i, used, vocab, tokens, fix_topics)
            guessed = match is not None
        if match is None:
            i += 1
            continue
        entry, length = match
        begin = _cue_start(norms, i, used)
        mood = " ".join(norms[max(0, begin - 7):begin])  # "not in the mood for horror" (those words are claimed)
        negated = (_is_negated(norms, begin, i, used) or bool(_NOT_IN_THE_MOOD_NORM.search(mood))) != entry.opposite
        kind = _role(entry, norms, begin, i) if entry.kind == "person" else entry.kind
        span = (tokens[i].start, tokens[i + length - 1].end)
        entity = Entity(kind, entry.values, entry.label, span, negated, entry.count)
        key = (entity.kind, entity.values)
        milder = kind == "genre" and negated and bool(set(norms[begin:i]) & _INTENSIFIERS)  # "not so scary"
        if key not in found:
            found.add(key)
            query.entities.append(entity)
            query.guessed += guessed
            if milder:
                mild.add(key)
        elif kind == "genre" and (key in mild or milder):
            # the genre named and "not too" it ("not so scary horror", "horror that isn't too scary"): the genre,
            # lighter; not a rule against it
            first = next(j for j, e in enumerate(query.entities) if (e.kind, e.values) == key)
            if query.entities[first].negated != negated:
                query.entities[first] = replace(query.entities[first], negated=False)
                query.tone = query.tone or "light"
                query.softened.append(entity.label)
        for j in range(begin, i + length):
            used[j] = True
            topical[j] = kind == "keyword" and not negated and j >= i
        end = i + length
        while (end < n and not used[end] and norms[end] in FILM_WORDS | FRANCHISE_WORDS
               and norms[end] not in GENRE_WORDS):
            used[end] = True
            end += 1
        i = end
    return topical


_INTENSIFIERS = {"too", "so", "very", "overly", "really", "that", "particularly"}
#: words that start another constraint after a language's name ("French from the 90s", "Italian with Sophia Loren")
_CLAUSE_STARTS = ("from", "before", "after", "since", "made", "released", "under", "over", "with", "starring", "by",
                  "directed", "set")


def _context(norms: list[str], used: list[bool], start: int, end: int) -> tuple[list[str], list[str]]:
    before = [norms[j] for j in range(max(0, start - 3), start)]
    after = [norms[j] for j in range(end, min(len(norms), end + 2))]
    return before, after


def _choose(entries: list[Entry], tokens: list[_Token], norms: list[str], start: int, end: int, used: list[bool],
            whole: bool) -> Entry | None:
    """The entry this occurrence stands for, or None where its context says it is an ordinary word."""
    if end - start == 1 and norms[start] in FILLER and (not tokens[start].raw[:1].isupper() or norms[start] in (
            "i", "im", "id", "ive", "ill")):  # "I'm in the mood": no IM Filmproduktion either
        entries = [e for e in entries if e.kind in ("keyword", "genre")]  # "a good anime film": no studio Good
    before, after = _context(norms, used, start, end)
    film_next = bool(after) and after[0] in FILM_WORDS | FRANCHISE_WORDS
    genre_next = bool(after) and after[0] in GENRE_WORDS
    franchise_next = bool(after) and after[0] in FRANCHISE_WORDS - {"films", "movies"}
    lead = [w for w in before if w not in _INTENSIFIERS]  # "not too violent" rules out as "not violent" does
    negated_or_only = bool(lead) and lead[-1] in NEGATIONS | {"only", "just"}
    topic_before = bool(before) and before[-1] in TOPIC_CUES or before[-2:] in (["set", "in"], ["place", "in"])
    in_before = bool(before) and before[-1] in ("in", "from", "made")
    capitalised = tokens[start].raw[:1].isupper()
    competing = any(e.kind in ("genre", "keyword") for e in entries)
    options = []
    for e in entries:
        if e.kind == "keyword":
            ok = (not e.weak or film_next or topic_before or negated_or_only or whole
                  or (bool(after) and after[0] == "themed")) and not (bool(after) and after[0] in ("me", "us"))
            # "don't show me": a verb, not the topic "show"
        elif e.kind == "genre":
            period_before = start > 0 and used[start - 1] and bool(re.fullmatch(r"\d0s|\d{4}s?", norms[start - 1]))
            a_film = bool(before) and before[-1] in ("a", "an") and norms[start] in _FILM_NOUNS  # "a musical"
            ok = not e.weak or film_next or genre_next or negated_or_only or period_before or a_film
        elif e.kind in ("language", "country") and e.weak:
            ok = film_next or genre_next or in_before or negated_or_only or whole or (bool(after) and after[0] in (
                "language", "speaking", "spoken", "dubbed", "subtitled", *_CLAUSE_STARTS)) or (
                bool(before) and before[-1] in ("something", "anything", "some", "any"))
            # whole: "Korean" is what "like X" left; "something French from the 90s" is French films
        elif e.kind == "collection" and e.weak:
            ok = franchise_next or (film_next and (capitalised or not competing))
        elif e.kind == "company" and e.weak:
            ok = film_next or (bool(before) and before[-1] in ("by", "from")) or capitalised
        elif e.kind == "person":  # a studio named after them says the word is a name ("scorsese mob movies")
            ok = end - start >= 2 or capitalised or film_next or bool(before and before[-1] in (
                DIRECTOR_CUES | ACTOR_CUES | WRITER_CUES)) or any(o.kind == "company" for o in entries)
        else:
            ok = True
        if ok:
            options.append(e)
    if not options:
        return None
    best = min(options, key=lambda e: (_PRIORITY.get(e.kind, 9), -e.count))
    bigger = [e for e in options if e.kind in ("company", "collection") and e.count >= 5 * max(best.count, 1)]
    if best.kind == "person" and bigger:
        best = bigger[0]  # "Walt Disney movies": the studio
    topics = [e for e in options if e.kind == "keyword" and e.count >= max(TOPIC_OVER_NAME, 3 * best.count)]
    named = best.kind in ("person", "company") or (best.kind == "collection" and not capitalised and not franchise_next)
    return topics[0] if named and topics else best  # "space movies"; "Alien films" stays the franchise


def _closest(word: str, words: list[str] | None, scorer: Any, cutoff: float) -> str | None:
    """The word of ``words`` nearest ``word`` by ``scorer`` (rapidfuzz), if it reaches ``cutoff``."""
    if not words:
        return None
    found = process.extractOne(word, words, scorer=scorer, score_cutoff=cutoff)
    return None if found is None else str(found[0])


def _unknown(word: str, vocab: Vocabulary) -> bool:
    return len(word) >= 4 and not word.isdigit() and word not in vocab.known_words


def _fuzzy_match(norms: list[str], i: int, used: list[bool], vocab: Vocabulary, tokens: list[_Token],
                 fix_topics: bool = True) -> tuple[Entry, int] | None:
    """A misspelt name ("Cristopher Nolan", "Tarantio"): the unknown word is corrected to the closest word of a
    person's, company's or franchise's name, then the name starting there is looked up as usual; failing that, a
    misspelt one-word topic ("a hiest that goes wrong")."""
    corrected = vocab.correct(norms[i])
    if corrected is not None:
        words = [corrected, *norms[i + 1:i + MAX_NAME_WORDS]]
        for length in range(len(words), 0, -1):
            if any(used[i:i + length]):
                continue
            entries = [e for e in vocab.lookup(" ".join(words[:length]))
                       if e.kind in ("person", "company", "collection")]
            if entries:
                return min(entries, key=lambda e: (_PRIORITY[e.kind], -e.count)), length
    topic = vocab.correct_topic(norms[i]) if fix_topics else None
    entries = [e for e in vocab.lookup(topic) if e.kind in ("keyword", "genre")] if topic else []
    if topic is None or not entries:
        return None
    tokens[i].raw = topic  # the search reads the word as meant
    return min(entries, key=lambda e: _PRIORITY[e.kind]), 1


def _short_first_name(norms: list[str], i: int, used: list[bool], vocab: Vocabulary) -> tuple[Entry, int] | None:
    """"Leo DiCaprio", "Chris Nolan": a first name cut short before the surname a person is known by."""
    if i + 1 >= len(norms) or used[i] or used[i + 1] or len(norms[i]) < 3 or norms[i] in FILLER:
        return None
    for e in vocab.lookup(norms[i + 1]):
        words = normalize(e.label).split()
        if e.kind == "person" and len(words) >= 2 and words[0].startswith(norms[i]) and words[-1] == norms[i + 1]:
            return e, 2
    return None


def _cue_start(norms: list[str], i: int, used: list[bool]) -> int:
    """Where the words introducing a name begin ("not directed by", "starring", "no"): they go with it."""
    cues = NEGATIONS | DIRECTOR_CUES | ACTOR_CUES | WRITER_CUES | {"from", "made", "in", "about", "only", "just",
                                                                   "the", "any", "more", "anything", "too", "very",
                                                                   "so", "overly", "a", "an", "mood", "for",
                                                                   "that"}  # "not too scary", "that isn't a drama"
    begin = i
    while begin > 0 and i - begin < 6 and not used[begin - 1] and norms[begin - 1] in cues:
        begin -= 1
    return begin


def _is_negated(norms: list[str], begin: int, i: int, used: list[bool]) -> bool:
    words = norms[begin:i]
    if any(w in NEGATIONS - {"but"} for w in words):
        return True
    return "but" in words and "not" in words


def _role(entry: Entry, norms: list[str], begin: int, i: int) -> str:
    """Director, actor or writer: what the words before the name say, else the person's most frequent credit."""
    cue_words = set(norms[max(0, begin - 1):i])
    if cue_words & WRITER_CUES:
        return "writer"
    if cue_words & (ACTOR_CUES - {"with"}):
        return "actor"
    if cue_words & {"with"} and not cue_words & DIRECTOR_CUES:  # "nothing with Nicholas Sparks": his any credit
        acts = dict(entry.roles).get("actor", 0)
        return "actor" if not entry.roles or acts * 2 >= max(n for _, n in entry.roles) else "person"
    if cue_words & DIRECTOR_CUES:
        return "director"
    if not entry.roles:
        return "director"
    if len(entry.roles) == 1 or entry.roles[0][1] >= 2 * entry.roles[1][1]:
        return entry.roles[0][0]
    return "person"  # "Clint Eastwood movies": as much a director as an actor, so any credit counts


def _did_you_mean(text: str, vocab: Vocabulary) -> list[str]:
    """Close titles for a short request nobody has as a title ("the matirx" -> The Matrix)."""
    if vocab.titles.exact(text):
        return []
    found = _close_titles(text, vocab)
    if not found or found[0][1] < 80:
        return []
    return [vocab.titles.display[vocab.titles.ids.index(m)] for m, _ in found]


def _close_titles(text: str, vocab: Vocabulary, cutoff: float = 75.0) -> list[tuple[int, float]]:
    """Up to three titles within ``cutoff`` (rapidfuzz ratio, 0-100) of ``text``, closest then most rated first."""
    from index.titles import normalize_title

    found = process.extract(normalize_title(text), vocab.titles.keys, scorer=fuzz.ratio, score_cutoff=cutoff,
                            limit=3)
    ranked = sorted(found, key=lambda f: (-f[1], -vocab.titles.rating_counts.get(vocab.titles.ids[f[2]], 0)))
    return [(vocab.titles.ids[i], float(score)) for _, score, i in ranked]


def describe_list(items: Iterable[str], conjunction: str = "and") -> str:
    """"A", "A and B", "A, B and C" (or "A, B or C").

    Example:
        >>> describe_list(["Heat", "Alien", "Up"]), describe_list(["Heat", "Alien"], "or")
        ('Heat, Alien and Up', 'Heat or Alien')
    """
    names = list(items)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {conjunction} {names[-1]}" if names else ""
