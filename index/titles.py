"""Find a movie by the title a person typed: forgiving case, leading articles, punctuation and a missing year."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process

from index.errors import TitleNotFound

ARTICLES = ("the", "a", "an", "les", "la", "le", "il", "el", "die", "der", "das", "l")
_YEAR = re.compile(r"\s*\((\d{4})\)\s*$")


def normalize_title(text: str) -> str:
    """Lowercase, no accents, no punctuation, "&" read as "and", no apostrophes ("oceans" == "ocean's"), no
    leading or trailing article ("Matrix, The" == "the matrix").

    Example:
        >>> normalize_title("Matrix, The")
        'matrix'
        >>> normalize_title("The Matrix")
        'matrix'
    """
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().replace("&", " and ")
    text = re.sub(r"[^a-z0-9]+", " ", re.sub(r"['’]", "", text)).strip()
    words = text.split()
    if len(words) > 1 and words[0] in ARTICLES:
        words = words[1:]
    if len(words) > 1 and words[-1] in ARTICLES:
        words = words[:-1]
    return " ".join(words)


def split_year(text: str) -> tuple[str, int | None]:
    """Split a trailing "(1995)" off a title.

    Example:
        >>> split_year("Heat (1995)")
        ('Heat', 1995)
    """
    m = _YEAR.search(text)
    return (text[:m.start()].strip(), int(m.group(1))) if m else (text.strip(), None)


_PARENS = re.compile(r"\(([^()]*)\)")
_ROMAN = {"ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6", "vii": "7", "viii": "8", "ix": "9"}
_ARABIC = {v: k for k, v in _ROMAN.items()}
#: the words that number a sequel, as a digit or a Roman numeral ("2", "ii" ... "9", "ix")
SEQUEL_NUMBERS = frozenset({*_ROMAN, *_ARABIC})
_NUMBERED = re.compile(r"^(?P<head>.+?) (?:(?:part|episode|chapter) )?(?P<n>[2-9]|ii|iii|iv|v|vi|vii|viii|ix)$")


def title_aliases(title: str) -> set[str]:
    """The normalised keys a title is found by: as written, without its parenthesised parts, each
    parenthesised alternative title ("a.k.a." or a translation) on its own, a sequel's number as a digit or a
    Roman numeral, and a title of several words written as one ("oldboy", "spiderman").

    Example:
        >>> sorted(title_aliases("Seven (a.k.a. Se7en)"))
        ['se7en', 'seven', 'seven a k a se7en']
        >>> "amelie" in title_aliases("Amelie (Fabuleux destin d'Amélie Poulain, Le)")
        True
        >>> {"terminator 2", "terminator ii"} <= title_aliases("Terminator 2: Judgment Day")
        True
    """
    keys = {normalize_title(title), normalize_title(_PARENS.sub(" ", title))}
    for group in _PARENS.findall(title):
        key = normalize_title(re.sub(r"^\s*a\.?\s*k\.?\s*a\.?\s+", "", group, flags=re.I))
        if len(key) >= 3 and not key.isdigit():
            keys.add(key)
    keys |= {k.replace(" ", "") for k in keys  # "Oldboy" is "Old Boy (2003)"; "C.R.A.Z.Y." is no "crazy"
             if " " in k and len(k) >= 7 and min(map(len, k.split())) >= 2}
    heads = {normalize_title(re.split(sep, _PARENS.sub(" ", title), maxsplit=1)[0]) for sep in (":", " - ")}
    keys |= set().union(*(_sequel_keys(k) for k in keys | heads))
    return {k for k in keys if k}


def series_name(collection: str) -> str:
    """A collection's name as people say it (or a franchise as people name it: "the Star Wars saga").

    Example:
        >>> series_name("The Lord of the Rings Collection"), series_name("Star Wars Saga")
        ('lord of the rings', 'star wars')
    """
    return normalize_title(re.sub(r"\s+(?:collection|series|saga|trilogy|franchise)\s*$", "", collection, flags=re.I))


def title_heads(title: str) -> set[str]:
    """The franchise names a title may begin with: before a colon or dash, before "and the", before a number.

    Example:
        >>> sorted(title_heads("Harry Potter and the Deathly Hallows: Part 1"))
        ['harry potter', 'harry potter and the deathly hallows']
        >>> sorted(title_heads("Tremors 3: Back to Perfection")), title_heads("Blade Runner")
        (['tremors', 'tremors 3'], set())
    """
    plain = _PARENS.sub(" ", title)
    heads = {normalize_title(re.split(sep, plain, maxsplit=1)[0]) for sep in (":", " - ") if sep in plain}
    if re.search(r" (?:and|&) the ", plain, re.I):
        heads.add(normalize_title(re.split(r" (?:and|&) the ", plain, maxsplit=1, flags=re.I)[0]))
    for key in {normalize_title(plain), *heads}:
        m = _NUMBERED.match(key)
        if m:
            heads.add(m.group("head"))
    return {h for h in heads if h}


def sequel_number(text: str) -> str | None:
    """The sequel number a typed title ends with, as a digit ("Rocky IV" -> "4"), or None.

    Example:
        >>> sequel_number("Toy Story 4"), sequel_number("the godfather part ii"), sequel_number("Heat")
        ('4', '2', None)
    """
    m = _NUMBERED.match(normalize_title(text))
    return _ROMAN.get(m.group("n"), m.group("n")) if m else None


def same_number(typed: str, title: str) -> bool:
    """Whether a close title may stand for what was typed: a typed sequel number must be the title's ("Toy
    Storry 2" is Toy Story 2; "Toy Story 4", where there is none, is neither Toy Story nor Toy Story 2).

    Example:
        >>> same_number("Toy Storry 2", "Toy Story 2 (1999)"), same_number("Toy Story 4", "Toy Story 2 (1999)")
        (True, False)
    """
    wanted = sequel_number(typed)
    return wanted is None or any(sequel_number(k) == wanted for k in title_aliases(split_year(title)[0]))


def _sequel_keys(key: str) -> set[str]:
    """The ways a numbered title is typed: "godfather part ii" is also "godfather ii", "godfather 2" and
    "godfather part 2"; a title whose part before the colon is numbered ("Terminator 2: Judgment Day") is
    found by that part alone (the caller passes it)."""
    m = _NUMBERED.match(key)
    if not m:
        return set()
    head, n = m.group("head"), m.group("n")
    digit = _ROMAN.get(n, n)
    return {key, f"{head} {digit}", f"{head} {_ARABIC[digit]}", f"{head} part {digit}"}


@dataclass(frozen=True)
class TitleMatch:
    movie_id: int
    display_title: str
    score: float


class TitleIndex:
    """Every movie's title, normalised once, for exact-then-fuzzy lookup.

    Example:
        >>> idx = TitleIndex({1: {"title": "Toy Story", "year": 1995}, 2: {"title": "Heat", "year": 1995}})
        >>> idx.resolve("toy story")
        1
    """

    def __init__(self, payloads: Mapping[int, Mapping[str, Any]]) -> None:
        self.ids: list[int] = []
        self.years: list[int | None] = []
        self.display: list[str] = []
        self.keys: list[str] = []
        self.literal: list[str] = []  # the title as written, lowercased: breaks ties like "Heat" vs "The Heat"
        self.rating_counts: dict[int, int] = {}  # which of several same-titled movies people mean: the most rated
        for mid, p in payloads.items():
            title = str(p.get("title") or "")
            year = p.get("year")
            self.ids.append(int(mid))
            self.years.append(int(year) if year else None)
            self.display.append(p.get("display_title") or (f"{title} ({year})" if year else title))
            self.keys.append(normalize_title(title))
            self.literal.append(" ".join(title.lower().split()))
            self.rating_counts[int(mid)] = int(p.get("rating_count") or 0)
        self._id_set = set(self.ids)
        self._by_key: dict[str, list[int]] = {}
        for i, mid in enumerate(self.ids):
            for key in title_aliases(str(payloads[mid].get("title") or "")):
                self._by_key.setdefault(key, []).append(i)
        self._alias_keys = list(self._by_key)  # what a misspelt title is compared with (candidates)
        self._alias_rows = [self._by_key[k] for k in self._alias_keys]
        self._series: dict[str, set[int]] = {}  # a franchise's name -> its films, by the data or by their titles
        for mid, p in payloads.items():
            if p.get("collection"):
                self._series.setdefault(series_name(str(p["collection"])), set()).add(int(mid))
        for mid, p in payloads.items():
            for head in title_heads(str(p.get("title") or "")):
                if head in self._series:
                    self._series[head].add(int(mid))
        year_of = dict(zip(self.ids, self.years, strict=True))
        sequels: set[int] = set()
        for members in self._series.values():
            if len(members) >= 2:
                first = min(year_of[m] or 9999 for m in members)
                sequels |= {m for m in members if (year_of[m] or 0) > first}
        #: the films that came after the first of their franchise ("Pixar movies that aren't sequels")
        self.sequels = frozenset(sequels)

    def __contains__(self, movie_id: object) -> bool:
        """Whether a movieId is in the index."""
        return movie_id in self._id_set

    def candidates(self, query: str, limit: int = 5) -> list[TitleMatch]:
        """The closest titles, best first (a year in the query must match when given), by the mean of rapidfuzz's
        WRatio and plain ratio over each title's aliases: WRatio alone scored a part of either string as a match,
        so "the matirx" was nearest M (1931), "heet" nearest Vanya on 42nd Street, "titanik" nearest It.

        Example:
            >>> idx = TitleIndex({1: {"title": "M", "year": 1931}, 2: {"title": "The Matrix", "year": 1999}})
            >>> [m.display_title for m in idx.candidates("the matirx")]
            ['The Matrix (1999)', 'M (1931)']
        """
        title, year = split_year(query)
        key = normalize_title(title)
        if not key or not self._alias_keys:
            return []
        both = process.cdist([key], self._alias_keys, scorer=fuzz.WRatio)[0] + \
            process.cdist([key], self._alias_keys, scorer=fuzz.ratio)[0]
        best: dict[int, float] = {}
        for j in np.argsort(-both, kind="stable"):
            for i in self._alias_rows[j]:
                if (year is None or self.years[i] == year) and i not in best:
                    best[i] = float(both[j]) / 2
            if len(best) >= limit * 3:
                break
        matches = [TitleMatch(self.ids[i], self.display[i], score) for i, score in best.items()]
        matches.sort(key=lambda m: (-m.score, -self.rating_counts.get(m.movie_id, 0), m.display_title))
        return matches[:limit]

    def series(self, query: str, limit: int = 3) -> list[int]:
        """The most-rated films of the franchise a name means, when it means one: the name is a franchise's
        (a collection in the data, completed by the titles that begin with its name and a colon, a number or
        "and the") with at least two films, and no film of that exact title is one of them or as much as a
        third as rated ("the Lord of the Rings" is the trilogy, not the 1978 cartoon; "Toy Story" stays the film).

        Example:
            >>> idx = TitleIndex({1: {"title": "Harry Potter and the Sorcerer's Stone", "rating_count": 107,
            ...                       "collection": "Harry Potter Collection"},
            ...                   2: {"title": "Harry Potter and the Chamber of Secrets", "rating_count": 102}})
            >>> idx.series("harry potter"), idx.series("Harry Potter and the Chamber of Secrets")
            ([1, 2], [])
        """
        members = self._series.get(series_name(split_year(query)[0]), set())
        if len(members) < 2:
            return []
        exact = self.exact(query)
        best = max(self.rating_counts.get(m, 0) for m in members)
        if any(m in members or 3 * self.rating_counts.get(m, 0) >= best for m in exact):
            return []
        return sorted(members, key=lambda m: (-self.rating_counts.get(m, 0), m))[:limit]

    def exact(self, query: str) -> list[int]:
        """Every movieId whose normalised title (and year, when given) equals the query's.

        Example:
            >>> idx = TitleIndex({1: {"title": "Titanic", "year": 1997}, 2: {"title": "Titanic", "year": 1953}})
            >>> idx.exact("titanic"), idx.exact("Titanic (1953)")
            ([1, 2], [2])
        """
        title, year = split_year(query)
        return [self.ids[i] for i in self._by_key.get(normalize_title(title), [])
                if year is None or self.years[i] == year]

    def resolve(self, query: str) -> int:
        """The movieId a title means; ``TitleNotFound`` (with candidates) when none or several fit.

        Example:
            >>> TitleIndex({1: {"title": "Heat", "year": 1995}}).resolve("HEAT (1995)")
            1
        """
        title, year = split_year(query)
        exact = [i for i in self._by_key.get(normalize_title(title), []) if year is None or self.years[i] == year]
        if len(exact) == 1:
            return self.ids[exact[0]]
        if len(exact) > 1:
            literal = [i for i in exact if self.literal[i] == " ".join(title.lower().split())]
            if len(literal) == 1:
                return self.ids[literal[0]]
            options = sorted(self.display[i] for i in exact)
            raise TitleNotFound(f"'{query}' matches {len(exact)} movies: {', '.join(options)}; add the year",
                                options)
        series = self.series(query)
        if series:
            names = [self.display[self.ids.index(m)] for m in series]
            raise TitleNotFound(f"'{query}' is a franchise, not one movie: name its films, such as "
                                f"{', '.join(names)}", names)
        best = self.candidates(query, limit=5)
        if best and best[0].score >= 92 and (len(best) == 1 or best[0].score - best[1].score >= 4) and \
                same_number(title, self.display[self.ids.index(best[0].movie_id)]):
            return best[0].movie_id
        names = [m.display_title for m in best]
        hint = f"; did you mean: {', '.join(names)}?" if names else ""
        raise TitleNotFound(f"no movie titled '{query}'{hint}", names)
