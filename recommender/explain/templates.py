"""Explanations realised from evidence: every title, name, number, label and quote is copied from an
:class:`~recommender.explain.evidence.Evidence` slot, so the text cannot state what the evidence does not hold.

An explanation is a plan (which facts, in what order: :func:`facts_of`, :func:`plan_card`) realised by filling
frames. Each fact kind has several grammatical frames that take any value (keywords and tags are quoted labels, so
"it features atmospheric" cannot happen); a page picks, for each card, the frames it has used least so far, so the
cards of one page do not read alike. The same page always gets the same text (a stable hash breaks ties).
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from recommender.explain.evidence import Evidence, SharedFeature

__all__ = ["FRAMES", "Fact", "TemplateExplainer", "facts_of", "natural_genre", "plan_card", "realise_page",
           "with_article"]

#: the app shows each card's explanation whole, above the fold of a 1400x1000 window (tests/test_browser.py)
MAX_CARD_CHARS = 200

#: Frames per fact kind. Slots: {t} a liked title, {v} loved/liked, {x} {x2} values, {xa} a value with its article,
#: {n} {m} counts, {r} a mean rating, {q} a quote, {d} a disliked title, {query} the person's description.
FRAMES: dict[str, tuple[str, ...]] = {
    "director": ("Like {t}, which you {v}, it was directed by {x}.",
                 "It is directed by {x}, who also directed {t}.",
                 "{x} directed both this and {t}.",
                 "You {v} {t}; {x} directed this one too.",
                 "It comes from {x}, the director of {t}.",
                 "{x}, who directed {t}, is behind this one as well."),
    "cast": ("It stars {x}, who is also in {t}.",
             "{x} is in the cast, as in {t}, which you {v}.",
             "Like {t}, it features {x}.",
             "You {v} {t}, and {x} appears in this one too.",
             "{x}, from the cast of {t}, has a role here as well."),
    "cast2": ("It stars {x} and {x2}, who are both in {t} as well.",
              "{x} and {x2} appear in it, as they do in {t}.",
              "Like {t}, which you {v}, it features both {x} and {x2}."),
    "writer": ("It was written by {x}, who also wrote {t}.",
               "{x} wrote both this and {t}.",
               "Like {t}, it has a script by {x}.",
               "You {v} {t}; {x} wrote this one too."),
    "composer": ("Its music is by {x}, who also scored {t}.",
                 "{x} wrote the music for both this and {t}.",
                 "Like {t}, it has a score by {x}."),
    "collection": ("Like {t}, which you {v}, it is part of {x}.",
                   "It belongs to {x}, as {t} does.",
                   "Both it and {t} belong to {x}.",
                   "You {v} {t}, and this one is also part of {x}."),
    "company": ("Like {t}, it was produced by {x}.",
                "{x} produced both this and {t}.",
                "It comes from the same studio as {t}: {x}.",
                "It is {xa} production, like {t}."),
    "keyword": ("It shares the keyword “{x}” with {t}.",
                "Like {t}, it is listed under the keyword “{x}”.",
                "Both this and {t} carry the keyword “{x}”.",
                "Keywords link it to {t}: both are filed under “{x}”.",
                "You {v} {t}, and this one is also filed under the keyword “{x}”."),
    "keyword2": ("It shares the keywords “{x}” and “{x2}” with {t}.",
                 "Like {t}, it is listed under the keywords “{x}” and “{x2}”.",
                 "Both this and {t} carry the keywords “{x}” and “{x2}”.",
                 "Keywords link it to {t}, which you {v}: “{x}” and “{x2}”."),
    "tag": ("People here tagged both it and {t} “{x}”.",
            "Like {t}, it is tagged “{x}” by MovieLens users.",
            "MovieLens users tag both this and {t} “{x}”.",
            "It carries the tag “{x}”, as {t} does."),
    "tag2": ("People here tagged both it and {t} “{x}” and “{x2}”.",
             "Like {t}, it is tagged “{x}” and “{x2}” by MovieLens users.",
             "MovieLens users tag both this and {t} “{x}” and “{x2}”."),
    "genre": ("Like {t}, it is {xa} film.",
              "It is another {x} film, like {t}.",
              "Like {t}, which you {v}, it is {xa} film.",
              "It shares the {x} genre with {t}."),
    "genre2": ("Like {t}, it is a mix of {x} and {x2}.",
               "It shares the {x} and {x2} genres with {t}.",
               "It is another {x} and {x2} film, like {t}."),
    "co_like": ("{n} of the {m} people here who loved {t} also loved it.",
                "Of the {m} people here who loved {t}, {n} loved this one too.",
                "{n} people here loved both {t} and this one.",
                "It is loved by {n} of the {m} people here who loved {t}."),
    "quote": ("One reviewer wrote: “{q}”",
              "A review says: “{q}”",
              "As one reviewer put it: “{q}”",
              "From a positive review: “{q}”",
              "In one reviewer's words: “{q}”"),
    "count": ("{n} {people} here {have} rated it, {r}★ on average.",
              "It averages {r}★ from {n} {ratings} here.",
              "People here rate it {r}★ on average, over {n} {ratings}."),
    "disliked": ("Unlike {d}, which you disliked, it shares none of its genres.",
                 "It has no genre in common with {d}, which you disliked.",
                 "You disliked {d}; this one shares none of its genres."),
    "signal_overview": ("Its plot summary reads close to that of {t}, which you {v}.",
                        "Going by their plot summaries, its story is close to {t}'s.",
                        "You {v} {t}, and its plot summary is among the closest to this one's."),
    "signal_reviews": ("Reviews of it read much like reviews of {t}, which you {v}.",
                       "Its reviews praise it in much the same words as those of {t}."),
    "signal_poster": ("Its poster looks close to that of {t}, which you {v}.",),
    "signal_cf": ("People who rate films the way you do tend to rate it like {t}, which you {v}.",
                  "Going by ratings here, it draws the same audience as {t}."),
    "signal_metadata": ("It has a lot in common with {t}, which you {v}.",),
    "gamble": ("A gamble: only {n} {people} here {have} rated it.",
               "A less-known pick: {n} {people} here {have} rated it, so it is more of a gamble.",
               "Riskier than the rest: just {n} {people} here {have} rated it.",
               "A less-known {g} pick, more of a gamble: {n} {people} here {have} rated it.",
               "Off the beaten track: only {n} {people} here {have} rated this {g} film."),
    "own_director": ("It is directed by {x}.", "{x} directed it.", "It comes from director {x}."),
    "own_cast": ("It stars {x}.", "{x} is in the cast.", "Its cast includes {x}."),
    "own_cast2": ("It stars {x} and {x2}.", "{x} and {x2} are in the cast.", "Its cast includes {x} and {x2}."),
    "own_director_cast": ("It is directed by {x} and stars {x2}.", "{x} directed it, and {x2} stars.",
                          "Directed by {x}, it stars {x2}."),
    "own_collection": ("It is part of {x}.", "It belongs to {x}."),
    "popular": ("A place to start while I learn your taste: {n} {people} here {have} rated it, {r}★ on average.",
                "Rated by {n} {people} here, {r}★ on average; tell me what you like for picks of your own.",
                "{n} {people} here {have} rated it, {r}★ on average: a safe first pick."),
    "match_keyword": ("It matches “{query}”: its keywords include “{x}”.",
                      "For “{query}”: it is listed under the keyword “{x}”."),
    "match_tag": ("It matches “{query}”: people here tagged it “{x}”.",
                  "For “{query}”: MovieLens users tag it “{x}”."),
    "match_genre": ("It matches “{query}”: it is {xa} film.",
                    "For “{query}”: it is {xa} film."),
    "match_cast": ("It matches “{query}”: {x} is in the cast.",
                   "For “{query}”: it stars {x}."),
    "match_director": ("It matches “{query}”: {x} directed it.",
                       "For “{query}”: it is directed by {x}."),
    "match_writer": ("It matches “{query}”: {x} wrote it.",
                     "For “{query}”: it is written by {x}."),
    "match_studio": ("It matches “{query}”: it comes from {x}.",
                     "For “{query}”: it is made by {x}."),
    "match_franchise": ("It matches “{query}”: it is part of {x}.",
                        "For “{query}”: it belongs to {x}."),
    "match_overview": ("Its plot summary mentions “{x}”, as your description does.",
                       "For “{query}”: its plot summary mentions “{x}”."),
    "match_meaning": ("It matches “{query}” by meaning rather than exact words.",
                      "Nothing in it repeats “{query}” word for word, but its plot summary reads close to it."),
    "match_meaning_overview": ("It matches “{query}” by the meaning of its plot summary: “{q}”",
                               "Its plot summary is close to “{query}” in meaning: “{q}”",
                               "No word of “{query}” is in it, but its plot summary is close in meaning: “{q}”",
                               "For “{query}”, a match by meaning; its plot summary reads: “{q}”"),
    "steer_meaning": ("Picked for your taste, leaning towards “{query}”.",
                      "A pick for your taste, nudged towards “{query}”.",
                      "It suits your taste, with a lean towards “{query}”."),
    "steer_meaning_overview": ("Picked for your taste, leaning towards “{query}”. Its plot summary: “{q}”",
                               "A pick for your taste, nudged towards “{query}”. From its plot summary: “{q}”",
                               "It suits your taste, with a lean towards “{query}”. The plot summary reads: “{q}”"),
    "overview": ("Its plot summary: “{q}”", "From its plot summary: “{q}”", "The plot summary reads: “{q}”",
                 "In its plot summary: “{q}”"),
}
KIND_PRIORITY = {"director": 10.0, "collection": 9.0, "cast": 8.0, "cast2": 8.5, "writer": 7.0, "quote": 6.5,
                 "co_like": 6.0, "keyword2": 5.5, "keyword": 5.0, "tag2": 4.8, "tag": 4.5, "composer": 4.0,
                 "company": 3.5, "genre2": 2.2, "genre": 2.0, "disliked": 1.5, "own": 1.2, "count": 1.0}
PEOPLE = ("director", "cast", "writer", "composer")


def natural_genre(genre: str) -> str:
    """How a MovieLens genre reads in a sentence.

    Example:
        >>> natural_genre("Sci-Fi"), natural_genre("Children"), natural_genre("Crime")
        ('sci-fi', "children's", 'crime')
    """
    return {"Sci-Fi": "sci-fi", "Film-Noir": "film noir", "Children": "children's", "IMAX": "IMAX"}.get(
        genre, genre.lower())


def with_article(word: str) -> str:
    """``"a crime"``, ``"an action"``.

    Example:
        >>> with_article("action"), with_article("crime"), with_article("Universal Pictures")
        ('an action', 'a crime', 'a Universal Pictures')
    """
    return f"{'an' if word[:1].lower() in 'aeio' else 'a'} {word}"


def collection_phrase(name: str) -> str:
    """A franchise as a sentence names it: ``"the Toy Story Collection"``, ``"The Godfather Collection"``.

    Example:
        >>> collection_phrase("Toy Story Collection"), collection_phrase("The Godfather Collection")
        ('the Toy Story Collection', 'The Godfather Collection')
    """
    return name if name.lower().startswith("the ") else f"the {name}"


@dataclass(frozen=True)
class Fact:
    """One thing an explanation can say: its frame kind, the slot values, and how much it is worth citing.

    Example:
        >>> Fact("director", {"x": "Michael Mann", "t": "Heat (1995)", "v": "loved"}, 10.0).kind
        'director'
    """

    kind: str
    slots: dict[str, str] = field(default_factory=dict)
    priority: float = 0.0

    @property
    def family(self) -> str:
        """The kind without its plural form (``cast2`` is ``cast``); every fact about the pick alone is ``own``."""
        return "own" if self.kind.startswith("own_") else self.kind.rstrip("2")

    @property
    def key(self) -> tuple[str, ...]:
        """What the fact states, whatever its frame: a page says the same thing twice only when it has nothing
        else to say."""
        return (self.family, *(f"{k}={v}" for k, v in sorted(self.slots.items()) if k != "v"))


def counted(n: int) -> dict[str, str]:
    """The slots of a count, in agreement with it.

    Example:
        >>> counted(1)["people"], counted(1)["have"], counted(2_500)["n"]
        ('person', 'has', '2,500')
    """
    one = n == 1
    return {"n": f"{n:,}", "people": "person" if one else "people", "have": "has" if one else "have",
            "ratings": "rating" if one else "ratings"}


def _stable_hash(*parts: object) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode())


def _feature_facts(evidence: Evidence) -> list[Fact]:
    """A fact per shared feature kind, about the liked movie that holds it (two values where that movie holds
    both)."""
    out: list[Fact] = []
    done: set[str] = set()
    for feature in evidence.shared:
        if feature.kind in done:
            continue
        title_id = next((m for m in feature.movie_ids if m in evidence.history_titles
                         and evidence.stance.get(m, "liked") != "disliked"), None)
        if title_id is None:
            continue
        done.add(feature.kind)
        title = evidence.history_titles[title_id]
        verb = evidence.stance.get(title_id, "liked")
        same: list[SharedFeature] = [f for f in evidence.shared if f.kind == feature.kind and f is not feature
                                     and title_id in f.movie_ids]
        value = _show(feature)
        slots = {"t": title, "v": verb, "x": value, "xa": with_article(value)}
        kind: str = feature.kind
        if same and kind in ("cast", "keyword", "tag", "genre"):
            slots["x2"] = _show(same[0])
            kind = f"{kind}2"
        out.append(Fact(kind, slots, KIND_PRIORITY.get(kind, 1.0)))
    return out


def _show(feature: SharedFeature) -> str:
    if feature.kind == "genre":
        return natural_genre(feature.value)
    if feature.kind == "collection":
        return collection_phrase(feature.value)
    return feature.value


def facts_of(evidence: Evidence) -> list[Fact]:
    """Everything the evidence lets an explanation say, most worth citing first.

    Example:
        >>> from recommender.explain.evidence import SharedFeature
        >>> e = Evidence(movie_id=9, title="Ronin (1998)", history_titles={6: "Heat (1995)"}, stance={6: "loved"},
        ...              shared=[SharedFeature("director", "John Frankenheimer", (6,))])
        >>> [f.kind for f in facts_of(e)]
        ['director']
    """
    facts = _feature_facts(evidence)
    for like in evidence.co_likes[:1]:
        if like.fans >= like.count > 0:
            facts.append(Fact("co_like", {"n": f"{like.count:,}", "m": f"{like.fans:,}", "t": like.anchor_title},
                              KIND_PRIORITY["co_like"]))
    for quote in evidence.review_sentences[:1]:
        facts.append(Fact("quote", {"q": quote}, KIND_PRIORITY["quote"]))
    for mid in evidence.disliked:
        if mid in evidence.history_titles:
            facts.append(Fact("disliked", {"d": evidence.history_titles[mid]}, KIND_PRIORITY["disliked"]))
    facts += _own_facts(evidence)
    if evidence.rating_count > 0 and evidence.rating_mean is not None:
        facts.append(Fact("count", {**counted(evidence.rating_count), "r": f"{evidence.rating_mean:.1f}"},
                          KIND_PRIORITY["count"]))
    facts.sort(key=lambda f: -f.priority)
    return facts


def _own_facts(evidence: Evidence) -> list[Fact]:
    """What the pick is on its own (its director, lead cast, franchise), for a card that shares little with the
    history; never a person or franchise the card already names as shared."""
    said = {f.value.lower() for f in evidence.shared} | {v.lower() for _, v in evidence.query_matches}
    own = {kind: [f.value for f in evidence.own if f.kind == kind and f.value.lower() not in said]
           for kind in ("director", "cast", "collection")}
    directors, cast, collection = own["director"], own["cast"], own["collection"]
    out: list[Fact] = []
    if directors and cast:
        out.append(Fact("own_director_cast", {"x": directors[0], "x2": cast[0]}, KIND_PRIORITY["own"]))
    elif directors:
        out.append(Fact("own_director", {"x": directors[0]}, KIND_PRIORITY["own"]))
    elif len(cast) >= 2:
        out.append(Fact("own_cast2", {"x": cast[0], "x2": cast[1]}, KIND_PRIORITY["own"]))
    elif cast:
        out.append(Fact("own_cast", {"x": cast[0]}, KIND_PRIORITY["own"]))
    if collection:
        out.append(Fact("own_collection", {"x": collection_phrase(collection[0])}, KIND_PRIORITY["own"] - 0.1))
    return out


def _signal_fact(evidence: Evidence) -> Fact | None:
    anchor = evidence.anchors[0] if evidence.anchors else None
    if anchor is None:
        return None
    signal = anchor.top_signal if f"signal_{anchor.top_signal}" in FRAMES else "metadata"
    return Fact(f"signal_{signal}", {"t": anchor.title, "v": evidence.stance.get(anchor.movie_id, "liked")}, 0.5)


def _match_facts(evidence: Evidence) -> list[Fact]:
    if not evidence.query:
        return []
    query = evidence.query
    out: list[Fact] = []
    for kind, value in evidence.query_matches[:1]:
        shown = natural_genre(value) if kind == "genre" else value
        out.append(Fact(f"match_{kind}", {"query": query, "x": shown, "xa": with_article(shown)}, 20.0))
    # a steered page ranks for the person's taste moved towards the description, a search for the description
    meaning = "match_meaning" if evidence.reason == "search" else "steer_meaning"
    if not out and evidence.overview_sentence:  # one sentence: how it matches, and the line that does
        return [Fact(f"{meaning}_overview", {"query": query, "q": evidence.overview_sentence}, 20.0)]
    if not out:
        out.append(Fact(meaning, {"query": query}, 20.0))
    if evidence.overview_sentence:
        out.append(Fact("overview", {"q": evidence.overview_sentence}, 6.0))
    return out


def plan_card(evidence: Evidence, used: Counter[str] | None = None,
              said: Counter[tuple[str, ...]] | None = None) -> list[Fact]:
    """The facts one card says, in order: what kind of pick it is (a description's match, a gamble, a popular
    start), then the most worth citing of what it shares with the liked movies, each kind once, preferring kinds
    this page has used less (``used`` counts them) and facts it has not stated yet (``said`` counts them by
    :attr:`Fact.key`), two or three sentences in all; where it shares little, what the pick is on its own.

    Example:
        >>> e = Evidence(movie_id=9, title="Ronin (1998)", rating_count=40, rating_mean=3.9, reason="popular")
        >>> [f.kind for f in plan_card(e)]
        ['popular']
    """
    used = used if used is not None else Counter()
    said = said if said is not None else Counter()
    head: list[Fact] = []
    if evidence.reason == "popular":
        if evidence.rating_count > 0 and evidence.rating_mean is not None:
            head.append(Fact("popular", {**counted(evidence.rating_count), "r": f"{evidence.rating_mean:.1f}"}, 20))
    elif evidence.reason == "exploration" and evidence.rating_count > 0:
        genre = natural_genre(evidence.genres[0]) if evidence.genres else ""
        slots = {**counted(evidence.rating_count), **({"g": genre} if genre else {})}
        head.append(Fact("gamble", slots, 20.0))
    head += _match_facts(evidence)
    facts = facts_of(evidence)
    if any(h.kind in ("popular", "gamble") for h in head) or evidence.reason == "search":
        facts = [f for f in facts if f.kind != "count"]  # a search card says how it matches, not how popular it is
    if evidence.reason == "popular":
        facts = [f for f in facts if f.kind == "quote" or f.family == "own"]
    chosen: list[Fact] = list(head)
    budget = 3 if len(head) < 2 else 1
    ranked = sorted(facts, key=lambda f: -(f.priority - 0.6 * used[f.family] - 3.0 * said[f.key]))
    families: set[str] = set()
    for fact in ranked:
        if len([c for c in chosen if c not in head]) >= budget:
            break
        if fact.family in families or (fact.family == "genre" and len(chosen) >= 2):
            continue
        if fact.kind in ("count",) and len(chosen) >= 2:
            continue
        families.add(fact.family)
        chosen.append(fact)
    personal = [c for c in chosen if c.kind not in ("count", "popular", "gamble", "match_meaning", "steer_meaning")
                and c.family != "own"]
    if not personal:
        signal = _signal_fact(evidence)
        if signal is not None:
            chosen.insert(len(head), signal)
    return chosen


def _fill(frame: str, slots: dict[str, str]) -> str:
    text = _DOUBLE_STOP.sub(".", frame.format(**slots))  # "Robert Downey Jr." ends a sentence with one stop
    return text[0].upper() + text[1:] if text else text


_DOUBLE_STOP = re.compile(r"(?<!\.)\.\.(?=\s|$)")


def _frame_fits(frame: str, slots: dict[str, str]) -> bool:
    return all(name in slots for name in re.findall(r"\{(\w+)\}", frame))


def realise(plan: Sequence[Fact], key: int, used_frames: Counter[str], said: set[str] | None = None) -> str:
    """One card's text: each fact in a frame that does not repeat a sentence of the page (``said``, updated),
    else the one of its kind used least on the page so far (``used_frames``, updated), ties broken by ``key``;
    sentences dropped from the end while the text is over MAX_CARD_CHARS.

    Example:
        >>> realise([Fact("director", {"x": "Michael Mann", "t": "Heat (1995)", "v": "loved"})], 0, Counter())
        'Like Heat (1995), which you loved, it was directed by Michael Mann.'
    """
    sentences: list[str] = []
    for i, fact in enumerate(plan):
        frames = [f for f in FRAMES[fact.kind] if _frame_fits(f, fact.slots)]
        if not frames:
            continue
        filled = [_fill(f, fact.slots) for f in frames]
        ordered = sorted(range(len(frames)), key=lambda j: (filled[j] in (said or ()), used_frames[frames[j]],
                                                            (j + key + i) % len(frames)))
        used_frames[frames[ordered[0]]] += 1
        sentences.append(filled[ordered[0]])
        if said is not None:
            said.add(filled[ordered[0]])
    while len(sentences) > 1 and len(" ".join(sentences)) > MAX_CARD_CHARS:
        # drop the latest sentence whose going makes the card fit (a long quote before a short fact), else the last
        fits = [i for i in range(len(sentences) - 1, 0, -1)
                if len(" ".join(sentences[:i] + sentences[i + 1:])) <= MAX_CARD_CHARS]
        sentences.pop(fits[0] if fits else -1)
    return " ".join(sentences)


def realise_page(evidence_list: Sequence[Evidence]) -> list[str]:
    """The explanations of one page, in order: facts planned per card, frames spread over the page.

    Example:
        >>> e = Evidence(movie_id=9, title="Ronin (1998)", rating_count=40, rating_mean=3.9, reason="popular")
        >>> realise_page([e])[0]
        'A place to start while I learn your taste: 40 people here have rated it, 3.9★ on average.'
    """
    used_kinds: Counter[str] = Counter()
    used_frames: Counter[str] = Counter()
    said: Counter[tuple[str, ...]] = Counter()
    sentences: set[str] = set()
    out = []
    for evidence in evidence_list:
        plan = plan_card(evidence, used_kinds, said)
        used_kinds.update(f.family for f in plan)
        said.update(f.key for f in plan)
        key = _stable_hash(evidence.movie_id, *sorted(evidence.history_titles))
        text = realise(plan, key, used_frames, sentences)
        out.append(text or "It ranks well for your taste.")
    return out


class TemplateExplainer:
    """Explanations realised from evidence slots only (see the module docstring): true by construction, varied
    across a page, the same for the same page wherever it is shown.

    Example:
        >>> from recommender.explain.evidence import SharedFeature
        >>> e = Evidence(movie_id=9, title="Ronin (1998)", history_titles={6: "Heat (1995)"}, stance={6: "loved"},
        ...              shared=[SharedFeature("cast", "Robert De Niro", (6,))])
        >>> TemplateExplainer().explain([e])[0]
        'Robert De Niro is in the cast, as in Heat (1995), which you loved.'
    """

    name = "template"

    def explain_one(self, evidence: Evidence) -> str:
        """One explanation, as the only card of its page."""
        return realise_page([evidence])[0]

    def explain(self, evidence_list: Sequence[Evidence]) -> list[str]:
        """One explanation per evidence, the page's frames spread over its cards."""
        return realise_page(evidence_list)

    def stream(self, evidence_list: Sequence[Evidence]) -> Iterator[tuple[int, str]]:
        """The page's explanations in order (all planned together, so the text equals :meth:`explain`'s)."""
        yield from enumerate(realise_page(evidence_list))
