"""Why a search result matched: the facts (which person, studio, franchise, keywords or words of the request it
shares), a plain sentence from them for the search cards, and the honest note when few movies fit a request.
Never popularity: a search card says what in the movie answers what was asked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from index.query import ParsedQuery, describe_list
from index.sparse import SparseEncoder

#: what a match is made of, in the order a sentence names them
MatchFacts = dict[str, list[str]]
MATCH_ORDER = ("directed by", "starring", "written by", "studio", "franchise", "like", "genres", "language", "country",
               "year", "runtime", "keywords", "mentions")
_PAYLOAD_KEY = {"director": "directors", "actor": "cast", "writer": "writers", "company": "companies",
                "collection": "collection", "genre": "genres", "language": "original_language",
                "country": "countries"}
_FACT = {"director": "directed by", "actor": "starring", "writer": "written by", "company": "studio",
         "collection": "franchise", "genre": "genres", "language": "language", "country": "country"}


def match_facts(query: ParsedQuery, payload: Mapping[str, Any], terms: frozenset[int] = frozenset(),
                sparse: SparseEncoder | None = None) -> MatchFacts:
    """What in a movie answers the request: the named people, studios, franchise, genres, language, country,
    period and runtime it has, the referenced movies it was ranked like, and its keywords, tags and overview words
    that share a (stemmed) word with the request.

    Example:
        >>> from index.query import Entity
        >>> q = ParsedQuery("Pixar movies", entities=[Entity("company", ("Pixar Animation Studios",), "Pixar", (0, 5))])
        >>> match_facts(q, {"companies": ["Pixar Animation Studios"], "year": 1995})
        {'studio': ['Pixar']}
    """
    facts: MatchFacts = {}
    for e in query.entities:
        if e.negated:
            continue
        for kind in ("director", "actor", "writer") if e.kind == "person" else (e.kind,):
            if kind not in _PAYLOAD_KEY:
                continue
            have = payload.get(_PAYLOAD_KEY[kind])
            have_set = set(have) if isinstance(have, list) else {have}
            shared = [v for v in e.values if v in have_set]
            if shared:
                named = kind in ("company", "collection", "language", "country")
                shown = [e.label] if named else [str(v) for v in shared]
                facts.setdefault(_FACT[kind], [])
                facts[_FACT[kind]] += [s for s in shown if s not in facts[_FACT[kind]]]
    if (query.year_min is not None or query.year_max is not None) and payload.get("year"):
        facts["year"] = [str(payload["year"])]
    if (query.runtime_min is not None or query.runtime_max is not None) and payload.get("runtime"):
        facts["runtime"] = [f"{payload['runtime']} minutes"]
    if query.reference_titles:
        facts["like"] = list(query.reference_titles)
    if terms and sparse is not None:
        words = _shared_words(terms, payload, sparse)
        if words["keywords"]:
            facts["keywords"] = words["keywords"]
        if words["mentions"] and not words["keywords"]:
            facts["mentions"] = words["mentions"]
    return facts


def _shared_words(terms: frozenset[int], payload: Mapping[str, Any], sparse: SparseEncoder) -> dict[str, list[str]]:
    keywords: list[str] = []
    seen: set[str] = set()
    for value in [*(payload.get("keywords") or []), *(payload.get("tags") or [])]:
        folded = str(value).casefold()
        if folded not in seen and sparse.terms(folded) & terms:
            seen.add(folded)
            keywords.append(folded)
    mentions: list[str] = []
    text = " ".join(str(payload.get(k) or "") for k in ("title", "tagline", "overview"))
    if text.strip():
        own = sparse.terms(text)
        for word in dict.fromkeys(re.findall(r"[^\W_]+", text.casefold())):
            if len(word) >= 3 and (hits := sparse.terms(word)) and hits <= own and hits & terms:
                mentions.append(word)
            if len(mentions) == 5:
                break
    return {"keywords": keywords[:6], "mentions": mentions}


def _no_article(name: str) -> str:
    return re.sub(r"^the ", "", name, flags=re.I)


def match_sentence(facts: Mapping[str, list[str]]) -> str:
    """A plain sentence from the match facts, for a search card.

    Example:
        >>> match_sentence({"directed by": ["Christopher Nolan"], "studio": ["Pixar"], "keywords": ["heist"]})
        'Directed by Christopher Nolan; a Pixar film; keywords: heist.'
        >>> match_sentence({})
        ''
    """
    parts = []
    for key in MATCH_ORDER:
        values = facts.get(key)
        if not values:
            continue
        listed = describe_list(values)
        parts.append({"directed by": f"directed by {listed}", "starring": f"starring {listed}",
                      "written by": f"written by {listed}", "studio": f"a {listed} film",
                      "franchise": f"part of the {_no_article(listed)} franchise", "like": f"ranked like {listed}",
                      "genres": listed, "language": f"in {listed}", "country": f"made in {listed}",
                      "year": f"from {listed}", "runtime": listed, "keywords": f"keywords: {', '.join(values)}",
                      "mentions": f"its story mentions {', '.join(values)}"}[key])
    if not parts:
        return ""
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


_ONLY = {"director": "list {} as director", "actor": "list {} in the cast", "writer": "list {} as a writer",
         "person": "list {} as director, cast or writer",
         "company": "list {} among their production companies", "collection": "belong to the {} franchise",
         "genre": "are {}", "language": "are in {}", "country": "were made in {}"}


def thin_note(query: ParsedQuery, total: int) -> str:
    """The honest line when few movies satisfy a request's constraints ("Only 3 movies here list Christopher Nolan
    as director."), naming the constraint; with people or studios it says the credits are incomplete.

    Example:
        >>> from index.query import Entity
        >>> q = ParsedQuery("x", entities=[Entity("director", ("Christopher Nolan",), "Christopher Nolan", (0, 1))])
        >>> thin_note(q, 3).split(" (")[0]
        'Only 3 movies here list Christopher Nolan as director'
        >>> thin_note(q, 0)
        'No movie here lists Christopher Nolan as director (credits are missing for some movies).'
    """
    hard = [e for e in query.entities if e.kind != "keyword"]
    single = len(hard) == 1 and not hard[0].negated and query.years_label is None and query.runtime_label is None
    if single and hard[0].kind in _ONLY:
        what = _ONLY[hard[0].kind].format(hard[0].label)
        if total == 1 or total == 0:
            what = re.sub(r"^(list|belong|are|were)\b", lambda m: {"list": "lists", "belong": "belongs", "are": "is",
                                                                    "were": "was"}[m.group()], what)
    else:
        what = f"match all of: {query.describe()}" if query.describe() else "match"
        if total <= 1:
            what = "matches" + what[len("match"):]
    credits = any(e.kind in ("director", "actor", "writer", "person", "company") for e in hard)
    caveat = " (credits are missing for some movies)" if credits else ""
    if total == 0:
        return f"No movie here {what}{caveat}."
    noun = "movie" if total == 1 else "movies"
    return f"Only {total} {noun} here {what}{caveat}, so that is all I show."
