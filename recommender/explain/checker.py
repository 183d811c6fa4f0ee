"""The checker a language model's sentence must pass: every title, person, genre and keyword it mentions (found
against the whole catalog's :class:`Vocabulary`), every number and every quoted phrase must be in that movie's
:class:`~recommender.explain.evidence.Evidence` (:func:`check_explanation`), and a rewrite of a template may say
nothing its draft did not (:func:`rewrite_problems`).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from recommender.explain.evidence import (
    Evidence,
    display_title,
    feature_values,
    looks_like_instruction,
)
from recommender.explain.templates import FRAMES, natural_genre

MAX_CHARS = 320
# the first word of each checker problem that is a false or unsupported claim (the rest are about form)
CLAIM_PROBLEMS = frozenset({"title", "person", "surname", "genre", "keyword", "number", "quote", "name", "reads"})

# --------------------------------------------------------------------------------------------------------------
# Words that are never taken for a catalog title, keyword or surname on their own
# --------------------------------------------------------------------------------------------------------------

_COMMON = """
a about above across act action actually after again against age ago all almost alone along already also always
am among an and another any anyone anything are around as at away back bad be became because become been before
began behind being believe below best better between beyond big bit black blue body book both boy bring brings
brother but by call called came can can't care case catch caught center certain chance change character
characters city class clear close closer closest come comes coming could couldn't country course cut dark day
days dead deal death did didn't different do does doesn't doing don't done door down during each early earth
easy either else end ending enjoy enjoyed enough even ever every everyone everything eye eyes face fact fall
familiar family fan fans far fast father feel feeling feels few fight film films find fine fire first five for
found four free friend friends from full fun funny game gave get gets getting girl give given go god goes going
gone good got great green ground group grow guy guys had half hand happy hard has have having he head hear heart
help her here hers high him his history hit hold home hope hot hour house how however human i idea if in inside
instead into is it it's its itself job just keep kid kids kind king knew know known lady land last late later
laugh lead least leave left less let life light like liked likes line little live lives long look looks lost lot
lots love loved lover loves lovers made make makes making man many matter may maybe me mean men might mind miss
moment money more most mother move movie movies much music must my myself name natural near need never new next
nice night no none nor not nothing now number of off often old on once one ones only open or order other others
our out over own part past people perhaps person pick picks picture place play plays plot point poster power
pretty probably put quite rather rated rating rates read reads real really red reason rest review reviewer
reviewers reviews right road room run runs said same saw say says school second see seem seems seen sense set
several shall share shared shares she short should show shows side similar simply since small so some someone
something sometimes soon sort sound space star stars start state stay still stop story stories street strong
such sure take taken takes tale talk taste tell than that the their them themselves then there these they thing
things think this those though thought three through time times to today together told too took top toward true
try turn turns two under until up upon us use used very viewer viewers want wanted war was wasn't watch watched
watching water way we well went were what when where whether which while white who whole whom whose why wife
will with within without woman women word words work world would write wrote year years yes yet you your yours
young also another whose rank ranks ranked feel feels next natural note echo echoes echoing along lines fit fits
fitting favourite favourites favorite favorites recommended recommend enjoyable sits right between them more
similarly likewise kind sort tone mood look same way written describe described describes critics critic audience
audiences viewers directed director directors stars starring cast feature features featuring featured tells telling
tell told plays played playing comes coming pick picks natural fellow overlap overlaps strongest closely closest
"""
COMMON_WORDS: frozenset[str] = frozenset(_COMMON.split())
_TOKEN = re.compile(r"[0-9A-Za-zÀ-ÖØ-öø-ÿ]+(?:['’][A-Za-zÀ-ÖØ-öø-ÿ]+)*")
_NUMBER = re.compile(r"(?<![\w,])\d{1,3}(?:,\d{3})+(?![\w,])|(?<![\w,.])\d+(?![\w,])")
_QUOTE = re.compile(r"\"([^\"]*)\"|“([^”]*)”")
_SENTENCE = re.compile(r"[^.!?]+(?:[.!?]+[\"”']?|$)")
_YEAR_IN_TITLE = re.compile(r"\((\d{4})\)\s*$")
GENRE_ALIASES = {"animated": "Animation", "cartoon": "Animation", "children": "Children", "kids": "Children",
                 "comedic": "Comedy", "comedies": "Comedy", "romantic": "Romance", "romcom": "Romance",
                 "science fiction": "Sci-Fi", "sci fi": "Sci-Fi", "scifi": "Sci-Fi", "noir": "Film-Noir",
                 "film noir": "Film-Noir", "documentaries": "Documentary", "thrillers": "Thriller",
                 "mysteries": "Mystery", "westerns": "Western", "musicals": "Musical", "fantasies": "Fantasy",
                 "dramas": "Drama", "horrors": "Horror"}


def _norm_case(token: str) -> str:
    token = token.replace("’", "'")
    return token[:-2] if token.endswith("'s") and len(token) > 2 else token


def _norm_lower(token: str) -> str:
    token = _norm_case(token).lower()
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3] + "y"
    if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
        token = token[:-1]
    return token


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def bare_title(title: str) -> str:
    """A display title without its trailing year.

    Example:
        >>> bare_title("Heat (1995)")
        'Heat'
    """
    return _YEAR_IN_TITLE.sub("", title).strip()


# --------------------------------------------------------------------------------------------------------------
# Vocabulary and mention detection
# --------------------------------------------------------------------------------------------------------------

EntityKind = Literal["title", "person", "surname", "genre", "keyword"]


@dataclass(frozen=True)
class Mention:
    """A catalog entity found in a text: the characters it spans and every (kind, canonical name) it may be.

    Example:
        >>> Mention((0, 4), "Heat", (("title", "Heat (1995)"),)).kinds
        {'title'}
    """

    span: tuple[int, int]
    text: str
    candidates: tuple[tuple[str, str], ...]

    @property
    def kinds(self) -> set[str]:
        """The entity kinds this mention may be."""
        return {kind for kind, _ in self.candidates}


class Vocabulary:
    """Every title, person, genre and keyword the catalog knows, indexed for finding mentions in a sentence.

    Titles and people match case-sensitively (so "the heat" is not *Heat*); genres and keywords ignoring case
    and a plural "s". A title made only of common words ("Up", "The One") counts only with its year; a
    surname alone ("Nolan") counts as any person of that surname; common words are never single-word
    keywords.

    Example:
        >>> v = Vocabulary.from_payloads([{"movie_id": 6, "title": "Heat", "year": 1995, "genres": ["Crime"],
        ...                                "directors": ["Michael Mann"], "keywords": ["bank robbery"]}])
        >>> [m.text for m in v.mentions("A Michael Mann crime film like Heat, with a bank robbery.")]
        ['Michael Mann', 'crime', 'Heat', 'bank robbery']
    """

    def __init__(self, titles: Iterable[str] = (), people: Iterable[str] = (), genres: Iterable[str] = (),
                 keywords: Iterable[str] = ()) -> None:
        self.titles = sorted({t for t in titles if t})
        self.people = sorted({p for p in people if p})
        self.genres = sorted({g for g in genres if g})
        self.keywords = sorted({k.lower() for k in keywords if k})
        self._exact: dict[tuple[str, ...], set[tuple[str, str]]] = {}
        self._folded: dict[tuple[str, ...], set[tuple[str, str]]] = {}
        self._longest = 1
        for title in self.titles:
            self._add_title(title)
        for person in self.people:
            self._add(self._exact, tuple(_norm_case(t) for t in _tokens(person)), ("person", person))
            parts = _tokens(person)
            if len(parts) > 1 and len(parts[-1]) >= 3 and parts[-1][0].isupper() \
                    and parts[-1].lower() not in COMMON_WORDS:
                self._add(self._exact, (_norm_case(parts[-1]),), ("surname", person))
        for genre in self.genres:
            for form in {genre, natural_genre(genre), genre.replace("-", " ")}:
                self._add_folded(form, ("genre", genre))
        for alias, genre in GENRE_ALIASES.items():
            if genre in self.genres:
                self._add_folded(alias, ("genre", genre))
        for keyword in self.keywords:
            self._add_folded(keyword, ("keyword", keyword))

    def _add(self, index: dict[tuple[str, ...], set[tuple[str, str]]], key: tuple[str, ...],
             value: tuple[str, str]) -> None:
        if key:
            index.setdefault(key, set()).add(value)
            self._longest = max(self._longest, len(key))

    def _add_folded(self, text: str, value: tuple[str, str]) -> None:
        key = tuple(_norm_lower(t) for t in _tokens(text))
        if value[0] == "keyword" and (all(k in COMMON_WORDS or k.isdigit() for k in key)
                                      or text.lower() in COMMON_WORDS
                                      or all(t.lower() in COMMON_WORDS for t in _tokens(text))):
            return
        self._add(self._folded, key, value)

    def _add_title(self, title: str) -> None:
        words = _tokens(bare_title(title))
        self._add(self._exact, tuple(_norm_case(t) for t in _tokens(title)), ("title", title))
        weak = all(w.lower() in COMMON_WORDS for w in words) or (len(words) == 1 and len(words[0]) < 3)
        if words and not weak:
            self._add(self._exact, tuple(_norm_case(t) for t in words), ("title", title))

    @classmethod
    def from_payloads(cls, payloads: Iterable[Mapping[str, Any]]) -> Vocabulary:
        """The vocabulary of a catalog, from its movie payloads.

        Example:
            >>> Vocabulary.from_payloads([{"movie_id": 1, "title": "Heat", "year": 1995}]).titles
            ['Heat (1995)']
        """
        titles, people, genres, keywords = set(), set(), set(), set()
        for p in payloads:
            titles.add(display_title(p))
            people.update(feature_values(p, "director") + feature_values(p, "cast"))
            genres.update(feature_values(p, "genre"))
            keywords.update(feature_values(p, "keyword"))
        return cls(titles, people, genres, keywords)

    def to_dict(self) -> dict[str, list[str]]:
        """Plain data for a JSON file saved with the explainer."""
        return {"titles": self.titles, "people": self.people, "genres": self.genres, "keywords": self.keywords}

    @classmethod
    def from_dict(cls, data: Mapping[str, Sequence[str]]) -> Vocabulary:
        """The inverse of :meth:`to_dict`."""
        return cls(data.get("titles", ()), data.get("people", ()), data.get("genres", ()), data.get("keywords", ()))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the vocabulary as JSON."""
        Path(path).write_text(json.dumps(self.to_dict()), encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Vocabulary:
        """Read a vocabulary written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def mentions(self, text: str, skip: Sequence[tuple[int, int]] = ()) -> list[Mention]:
        """The catalog entities in ``text``, longest match first, outside the character spans in ``skip``.

        Example:
            >>> v = Vocabulary(titles=["Up (2009)", "Heat (1995)"], genres=["Animation"])
            >>> [m.text for m in v.mentions("Heat's fans grew up on animated films like Up (2009).")]
            ["Heat's", 'animated', 'Up (2009)']
        """
        found = [m for m in _TOKEN.finditer(text) if not _inside(m.span(), skip)]
        exact = [_norm_case(m.group()) for m in found]
        folded = [_norm_lower(m.group()) for m in found]
        out: list[Mention] = []
        i = 0
        while i < len(found):
            for length in range(min(self._longest, len(found) - i), 0, -1):
                hits = self._exact.get(tuple(exact[i:i + length]), set()) | \
                    self._folded.get(tuple(folded[i:i + length]), set())
                if hits:
                    start, end = found[i].start(), found[i + length - 1].end()
                    if text[end:end + 1] == ")" and "(" in text[start:end]:
                        end += 1
                    out.append(Mention((start, end), text[start:end], tuple(sorted(hits))))
                    i += length
                    break
            else:
                i += 1
        return out


def _inside(span: tuple[int, int], spans: Sequence[tuple[int, int]]) -> bool:
    return any(s <= span[0] and span[1] <= e for s, e in spans)


# --------------------------------------------------------------------------------------------------------------
# The checker
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Allowed:
    titles: frozenset[str]
    people: frozenset[str]
    genres: frozenset[str]
    keywords: frozenset[str]
    numbers: frozenset[int]
    tokens: frozenset[str]
    quotable: tuple[str, ...]


def _allowed(evidence: Evidence) -> _Allowed:
    titles = {evidence.title, *evidence.history_titles.values(), *(a.title for a in evidence.anchors),
              *(c.anchor_title for c in evidence.co_likes)}
    titles = {t for t in titles if t and not looks_like_instruction(t)}
    people = {f.value for f in [*evidence.shared, *evidence.own]
              if f.kind in ("director", "cast", "writer", "composer", "company", "collection")}
    genres = set(evidence.genres + evidence.shared_genres)
    keywords = {f.value.lower() for f in evidence.shared if f.kind in ("keyword", "tag")}
    quotable = tuple(_quote_key(s) for s in [*evidence.review_sentences, *titles])
    numbers = {c.count for c in evidence.co_likes} | {c.fans for c in evidence.co_likes} | {evidence.rating_count}
    if evidence.rating_mean is not None:
        numbers.add(int(f"{evidence.rating_mean:.1f}".split(".")[0]))
    for title in titles:
        numbers.update(int(n) for n in re.findall(r"\d+", title))
    if evidence.year:
        numbers.add(int(evidence.year))
    strings = [*titles, *people, *genres, *keywords, *map(natural_genre, genres)]
    tokens = {_norm_case(t) for s in strings for t in _tokens(s)}
    return _Allowed(frozenset(titles), frozenset(people), frozenset(genres), frozenset(keywords),
                    frozenset(numbers), frozenset(tokens), quotable)


def _quote_key(text: str) -> str:
    text = text.replace("’", "'").replace('"', "'").lower()
    return " ".join(re.sub(r"[^\w'\s-]", " ", text).split())


def check_explanation(text: str, evidence: Evidence, vocabulary: Vocabulary | None = None) -> list[str]:
    """The problems with an explanation of this evidence; an empty list means every claim checks out.

    Problems: a catalog title, person, genre or keyword (from ``vocabulary``) that is not in the evidence; a
    capitalised name, or a number, found in no evidence field; a quoted phrase that is not part of an evidence
    review sentence or title; text that reads like an instruction; an empty, unfinished, repetitive or overlong
    text. Mentions inside a verified quote are the reviewer's words and are not checked again.

    Example:
        >>> e = Evidence(movie_id=9, title="Ronin (1998)", genres=["Action"], history_titles={6: "Heat (1995)"})
        >>> v = Vocabulary(titles=["Heat (1995)", "Ronin (1998)", "Casino (1995)"], genres=["Action", "Horror"])
        >>> check_explanation("Like Heat (1995), it is full of action.", e, v)
        []
        >>> check_explanation("Like Casino (1995), it is a horror film.", e, v)
        ["title 'Casino (1995)' is not in the evidence", "genre 'horror' is not in the evidence"]
    """
    problems: list[str] = []
    stripped = text.strip()
    if not stripped:
        return ["empty explanation"]
    if len(stripped) > MAX_CHARS:
        problems.append(f"longer than {MAX_CHARS} characters")
    if not re.search(r"[.!?][\"”')]?$", stripped):
        problems.append("unfinished sentence")
    if looks_like_instruction(stripped):
        problems.append("reads like an instruction")
    sentences = [s.strip().lower() for s in _SENTENCE.findall(stripped) if s.strip()]
    if len(sentences) != len(set(sentences)):
        problems.append("repeats a sentence")
    allowed = _allowed(evidence)

    verified: list[tuple[int, int]] = []
    if (stripped.count('"') % 2) or stripped.count("“") != stripped.count("”"):
        problems.append("unbalanced quotation marks")
    for match in _QUOTE.finditer(stripped):
        quoted = _quote_key(match.group(1) if match.group(1) is not None else match.group(2))
        if len(quoted) >= 3 and any(quoted in source for source in allowed.quotable):
            verified.append(match.span())
        else:
            problems.append(f"quote '{quoted[:60]}' is not from the evidence")
            verified.append(match.span())  # reported once; its words are not checked again

    covered = list(verified)
    if vocabulary is not None:
        for mention in vocabulary.mentions(stripped, skip=verified):
            covered.append(mention.span)
            if not _mention_allowed(mention, allowed):
                kind = sorted(mention.kinds)[0]
                label = mention.candidates[0][1] if kind == "title" and len(mention.candidates) == 1 \
                    else mention.text
                problems.append(f"{kind} '{label}' is not in the evidence")

    for match in _NUMBER.finditer(stripped):
        if _inside(match.span(), covered):
            continue
        if int(match.group().replace(",", "")) not in allowed.numbers:
            problems.append(f"number {match.group()} is not in the evidence")
    starts = {m.end() for m in re.finditer(r"(?:^|[.!?:][\"”')]?\s+)[\"“'(]?", stripped)}
    for match in _TOKEN.finditer(stripped):
        word = match.group()
        if _inside(match.span(), covered) or not word[0].isupper() or word.isdigit():
            continue
        norm = _norm_case(word)
        if norm in allowed.tokens or word == "I" or re.fullmatch(r"I['’](?:m|ve|d|ll)", word):
            continue
        if match.start() in starts and norm.lower() in COMMON_WORDS:
            continue
        problems.append(f"name '{word}' is not in the evidence")
    return problems


def _mention_allowed(mention: Mention, allowed: _Allowed) -> bool:
    for kind, name in mention.candidates:
        if (kind == "title" and name in allowed.titles) or (kind == "person" and name in allowed.people) \
                or (kind == "genre" and name in allowed.genres) or (kind == "keyword" and name in allowed.keywords):
            return True
        if kind == "surname" and any(p.split()[-1] == name.split()[-1] for p in allowed.people):
            return True
    return False


def evidence_items_mentioned(text: str, evidence: Evidence) -> list[str]:
    """The evidence items an explanation cites: liked titles, shared genres, keywords and people, co-like
    counts and (five or more words of) review sentences.

    Example:
        >>> e = Evidence(movie_id=9, title="Ronin (1998)", history_titles={6: "Heat (1995)"})
        >>> evidence_items_mentioned("Fans of Heat will like it.", e)
        ['Heat (1995)']
    """
    lowered = " ".join(text.lower().replace("’", "'").split())
    found: list[str] = []
    for title in evidence.history_titles.values():
        if re.search(rf"(?<!\w){re.escape(bare_title(title).lower())}(?!\w)", lowered):
            found.append(title)
    for feature in [*evidence.shared, *evidence.own]:
        forms = {feature.value.lower()} | ({natural_genre(feature.value)} if feature.kind == "genre" else set())
        if any(re.search(rf"(?<!\w){re.escape(f)}s?(?!\w)", lowered) for f in forms):
            found.append(feature.value)
    for like in evidence.co_likes:
        if re.search(rf"(?<![\d,]){like.count:,}(?![\d,])|(?<![\d,]){like.count}(?![\d,])", lowered):
            found.append(f"{like.count:,} co-likes")
    text_key = _quote_key(text)
    for sentence in evidence.review_sentences:
        words = _quote_key(sentence).split()
        if any(" ".join(words[i:i + 5]) in text_key for i in range(max(len(words) - 4, 1))):
            found.append(sentence)
    return found



_LIKING = re.compile(r"\byou\s+(?:\w+\s+)?(?:loved|liked|enjoyed|adored|disliked|hated|rated)\b", re.IGNORECASE)
_LIKING_PICK = re.compile(r"\byou\s+(?:\w+\s+)?(?:loved|liked|enjoyed|adored|rated)\s+(?:it|this)\b", re.IGNORECASE)


def _protected(evidence: Evidence) -> list[str]:
    values = [*evidence.history_titles.values(), *(f.value for f in [*evidence.shared, *evidence.own]),
              *evidence.review_sentences, *(c.anchor_title for c in evidence.co_likes)]
    if evidence.overview_sentence:
        values.append(evidence.overview_sentence)
    return sorted({v for v in values if v}, key=len, reverse=True)


def rewrite_problems(text: str, draft: str, evidence: Evidence, vocabulary: Vocabulary | None = None) -> list[str]:
    """What a rewrite changed that it may not: a title, name, label or quote of the evidence that the draft says
    and the rewrite drops or adds (counted), a number, a genre word or a statement of what the person liked that
    the draft does not make, or "you loved it" about the pick itself.

    Example:
        >>> e = Evidence(movie_id=9, title="Ronin (1998)", history_titles={6: "Heat (1995)"})
        >>> rewrite_problems("You loved Heat (1996) too.", "Like Heat (1995), which you loved, it is a crime film.", e)
        ["'Heat (1995)' changed", 'number 1996 is not in the draft']
        >>> from recommender.explain.evidence import SharedFeature
        >>> e = Evidence(movie_id=9, title="Ronin (1998)", history_titles={6: "Heat (1995)"},
        ...              own=[SharedFeature("director", "John Frankenheimer", ())])
        >>> rewrite_problems("John Frankenheimer directed Heat (1995). A movie and a movie is a film.",
        ...                  "Like Heat (1995), it is a crime film. It is directed by John Frankenheimer.", e)
        ["puts together what the draft says apart: ['Heat (1995)', 'John Frankenheimer']", "repeats 'a movie'"]
    """
    problems = []
    protected = _protected(evidence)
    for value in protected:
        if draft.count(value) != text.count(value):
            problems.append(f"'{value[:40]}' changed")
    from index.quotes import split_review_sentences

    groups = [{v for v in protected if v in s} for s, _ in split_review_sentences(draft)]
    capitalised = set(re.findall(r"[A-Z][\w'’-]*", draft))
    for sentence, _ in split_review_sentences(text):
        # a capitalised word inside a sentence is a name: the draft must have said it ("Tom Hanks", "Oscars")
        problems += [f"name '{w}' is not in the draft" for w in dict.fromkeys(re.findall(r"[A-Z][\w'’-]*",
                                                                                          sentence[1:]))
                     if w not in capitalised]
        together = {v for v in protected if v in sentence}
        if len(together) > 1 and not any(together <= g for g in groups):
            problems.append(f"puts together what the draft says apart: {sorted(together)}")
    words = re.findall(r"\w+", text.lower())
    pairs = Counter(zip(words, words[1:], strict=False))
    draft_words = re.findall(r"\w+", draft.lower())
    draft_pairs = Counter(zip(draft_words, draft_words[1:], strict=False))
    problems += [f"repeats '{' '.join(p)}'" for p, n in pairs.items() if n > max(1, draft_pairs[p])]
    numbers = set(re.findall(r"\d[\d,.]*\d|\d", draft))
    problems += [f"number {n} is not in the draft" for n in re.findall(r"\d[\d,.]*\d|\d", text) if n not in numbers]
    if len(_LIKING.findall(text)) > len(_LIKING.findall(draft)) or _LIKING_PICK.search(text):
        problems.append("says more about what the person liked than the draft")
    if vocabulary is not None:
        said = {c for m in vocabulary.mentions(draft) for c in m.candidates if c[0] in ("genre", "keyword")}
        for mention in vocabulary.mentions(text):
            kinds = {c for c in mention.candidates if c[0] in ("genre", "keyword")}
            if kinds and not kinds & said:
                problems.append(f"{sorted(kinds)[0][0]} '{mention.text}' is not in the draft")
    return problems


# the template words themselves must never read as a catalog title or keyword
COMMON_WORDS = COMMON_WORDS | frozenset(
    w.lower() for bank in FRAMES.values() for s in bank for w in _tokens(re.sub(r"\{\w+\}", " ", s)))
