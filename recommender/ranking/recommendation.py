"""What ranking hands to explanations, the API and the app: one recommended movie with why it ranked, and a
search's answer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from index.match import MatchFacts
from index.query import ParsedQuery


@dataclass
class Answer:
    """A search's movies, what the parser understood, how many movies satisfy the request's constraints (None
    without constraints), and notes for the person ("Only 9 movies here list Christopher Nolan as director...").

    Example:
        >>> Answer([], ParsedQuery("x"), None).notes
        []
    """

    recommendations: list[Recommendation]
    query: ParsedQuery
    total: int | None
    notes: list[str] = field(default_factory=list)


@dataclass
class Recommendation:
    """One recommended movie, with why it ranked (per-signal contributions, z-scores for this person).

    Example:
        >>> Recommendation(1, "Toy Story (1995)", 1995, ["Animation"], 0.9).title
        'Toy Story (1995)'
    """

    movie_id: int
    title: str
    year: int | None
    genres: list[str]
    score: float
    contributions: dict[str, float] = field(default_factory=dict)
    poster: str | None = None
    explanation: str | None = None
    reason: Literal["ranked", "exploration", "popular", "similar", "search"] = "ranked"
    evidence: Any = None
    query: str | None = None  # the description a search or steered page matched
    #: for a search: what in the movie answers the request ({"directed by": ["Christopher Nolan"], "keywords":
    #: ["heist"]}); ``match_sentence`` turns it into the card's line
    match: MatchFacts | None = None

    @classmethod
    def from_payload(cls, movie_id: int, payload: Mapping[str, Any], score: float, **extra: Any) -> Recommendation:
        return cls(movie_id, payload.get("display_title") or payload.get("title", str(movie_id)), payload.get("year"),
                   list(payload.get("genres") or []), float(score), poster=payload.get("poster"), **extra)
