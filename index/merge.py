"""Merge one movie's records from several metadata sources into one set of fields, with provenance.

Single-valued facts (overview, tagline, production companies, collection, languages, countries, runtime,
popularity, votes, release date) come whole from the first source, in precedence order, that has
them: a list such as the companies is one fact, not mixed across sources. People and keywords are the
union over every source, de-duplicated by `name_key` (case, accents, punctuation and spacing ignored;
for people also a middle name against its initial, `same_person`),
in precedence order, so the cast keeps the billing order of the first source that lists it and the
others' extra names follow. Provenance lists, per field, the sources its value came from.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from index.sources.common import MovieRecord

FIRST_FIELDS = ("overview", "tagline", "companies", "collection", "original_language", "spoken_languages",
                "countries", "runtime", "popularity", "vote_average", "vote_count", "release_date")
UNION_FIELDS = ("directors", "cast", "writers", "composers", "keywords")
_NOT_WORD = re.compile(r"[\W_]+")


@lru_cache(maxsize=1 << 17)
def name_key(name: str) -> str:
    """A name as compared when de-duplicating people and keywords: accents, case, punctuation and spacing
    ignored, so ``"J.J. Abrams"``, ``"J. J. Abrams"`` and ``"j j abrams"`` are one person.

    Example:
        >>> name_key("Alejandro González Iñárritu") == name_key("alejandro gonzalez inarritu")
        True
        >>> name_key("J.J. Abrams") == name_key("J. J. Abrams"), name_key("sci-fi") == name_key("Sci Fi")
        (True, True)
    """
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NOT_WORD.sub("", plain.casefold())


def same_person(a: str, b: str) -> bool:
    """Whether two spellings name one person: equal by `name_key`, or the same first and last names with
    middle names that agree where both give one (an initial matches the name it abbreviates). Meant for
    the people of one movie, where two different people so alike do not occur.

    Example:
        >>> same_person("Alejandro G. Iñárritu", "Alejandro González Iñárritu"), same_person("Samuel L. Jackson",
        ...                                                                                    "Samuel Jackson")
        (True, True)
        >>> same_person("Lana Wachowski", "Lilly Wachowski"), same_person("John A. Smith", "John B. Smith")
        (False, False)
    """
    if name_key(a) == name_key(b):
        return True
    words_a, words_b = _name_words(a), _name_words(b)
    if len(words_a) < 2 or len(words_b) < 2 or words_a[0] != words_b[0] or words_a[-1] != words_b[-1]:
        return False
    middle_a, middle_b = words_a[1:-1], words_b[1:-1]
    return not middle_a or not middle_b or (len(middle_a) == len(middle_b) and all(
        x.startswith(y) or y.startswith(x) for x, y in zip(middle_a, middle_b, strict=True)))


@lru_cache(maxsize=1 << 17)
def _name_words(name: str) -> tuple[str, ...]:
    return tuple(w for w in (name_key(w) for w in name.split()) if w)


def union_names(lists: Sequence[Sequence[str]], *, people: bool = False) -> list[str]:
    """The names of every list, in order, each once (the first spelling kept): keywords by `name_key`,
    people (``people=True``) by `same_person`.

    Example:
        >>> union_names([["Keanu Reeves", "Carrie-Anne Moss"], ["Keanu  Reeves", "Hugo Weaving"]])
        ['Keanu Reeves', 'Carrie-Anne Moss', 'Hugo Weaving']
    """
    seen: set[str] = set()
    by_ends: dict[tuple[str, str], list[str]] = defaultdict(list)  # (first, last) word -> names kept
    merged: list[str] = []
    for names in lists:
        for name in names:
            key = name_key(name)
            if not key or key in seen:
                continue
            if people:
                words = _name_words(name)
                ends = (words[0], words[-1]) if len(words) >= 2 else ("", key)
                if any(same_person(name, kept) for kept in by_ends[ends]):
                    continue
                by_ends[ends].append(name)
            seen.add(key)
            merged.append(name)
    return merged


def merge_records(records: Sequence[tuple[str, MovieRecord]]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Merge ``(source, record)`` pairs, given in precedence order, into ``(fields, provenance)``.

    Example:
        >>> api = MovieRecord(862, overview="Led by Woody...", cast=["Tom Hanks", "Tim Allen"])
        >>> imdb = MovieRecord(overview="Toys.", cast=["Tom Hanks", "Don Rickles"], runtime=81)
        >>> fields, provenance = merge_records([("tmdb_api", api), ("imdb_5000", imdb)])
        >>> fields["overview"], fields["cast"], fields["runtime"]
        ('Led by Woody...', ['Tom Hanks', 'Tim Allen', 'Don Rickles'], 81)
        >>> provenance["overview"], provenance["cast"], provenance["runtime"]
        (['tmdb_api'], ['tmdb_api', 'imdb_5000'], ['imdb_5000'])
    """
    fields: dict[str, Any] = {}
    provenance: dict[str, list[str]] = {}
    for name in FIRST_FIELDS:
        for source, record in records:
            value = getattr(record, name)
            if value is not None and value != [] and value != "":
                fields[name] = list(value) if isinstance(value, list) else value
                provenance[name] = [source]
                break
    for name in UNION_FIELDS:
        having = [(source, getattr(record, name)) for source, record in records if getattr(record, name)]
        if having:
            fields[name] = union_names([values for _, values in having], people=name != "keywords")
            provenance[name] = list(dict.fromkeys(source for source, _ in having))
    return fields, provenance
