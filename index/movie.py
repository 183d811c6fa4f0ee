"""The one typed record every source is joined into."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass
class Movie:
    """A movie with whatever signals its sources gave it, merged from every source; absent signals stay empty.

    `provenance` names, per field, the sources its value came from (see `index.catalog.METADATA_PRECEDENCE`).

    Example:
        >>> Movie(movie_id=1, title="Toy Story", year=1995, genres=["Animation"]).display_title
        'Toy Story (1995)'
    """

    movie_id: int
    title: str
    year: int | None = None
    genres: list[str] = field(default_factory=list)
    imdb_id: str | None = None  # "tt" + 7 digits
    tmdb_id: int | None = None
    overview: str | None = None
    tagline: str | None = None
    keywords: list[str] = field(default_factory=list)
    cast: list[str] = field(default_factory=list)  # billing order
    directors: list[str] = field(default_factory=list)
    writers: list[str] = field(default_factory=list)
    composers: list[str] = field(default_factory=list)
    companies: list[str] = field(default_factory=list)  # production companies
    collection: str | None = None  # the franchise, e.g. "Toy Story Collection"
    original_language: str | None = None  # ISO 639-1
    spoken_languages: list[str] = field(default_factory=list)  # ISO 639-1
    countries: list[str] = field(default_factory=list)  # production countries, ISO 3166-1 alpha-2
    runtime: int | None = None  # minutes
    poster: str | None = None  # a local file path or a URL
    reviews: list[str] = field(default_factory=list)
    review_ratings: list[float | None] = field(default_factory=list)  # each review's rating out of 10, if any
    popularity: float | None = None  # TMDB popularity
    vote_average: float | None = None
    vote_count: int | None = None
    rating_count: int = 0  # MovieLens ratings
    rating_mean: float | None = None
    tags: list[str] = field(default_factory=list)
    release_date: str | None = None
    provenance: dict[str, list[str]] = field(default_factory=dict)  # field -> the sources that supplied it

    @property
    def display_title(self) -> str:
        """The title with its year, as MovieLens writes it: ``"Heat (1995)"``."""
        return f"{self.title} ({self.year})" if self.year else self.title

    def overview_text(self) -> str | None:
        """Text for the overview signal: genres, tagline and plot, or None when there is no plot overview.

        The genres lead the text because plot summaries alone share too few words across a genre: on
        ml-latest-small they lift the share of overview neighbours with a common genre from 0.68 to 0.87.

        Example:
            >>> Movie(1, "Heat", genres=["Crime"], overview="A thief plans a heist.").overview_text()
            'Crime. A thief plans a heist.'
        """
        if not self.overview:
            return None
        parts = [", ".join(self.genres), self.tagline or "", self.overview]
        return ". ".join(p.strip().rstrip(".") for p in parts if p and p.strip()) + "."

    def review_sentences(self, limit: int = 8, min_chars: int = 40, max_chars: int = 220) -> list[str]:
        """Short quotable sentences from the reviews: the first fitting sentence of each review, in order.

        Example:
            >>> m = Movie(1, "Heat", reviews=["Wow. The bank heist shootout is the best ever put on film. Yes."])
            >>> m.review_sentences()
            ['The bank heist shootout is the best ever put on film.']
        """
        out: list[str] = []
        for review in self.reviews:
            for sentence in _SENTENCE_END.split(" ".join(review.split())):
                if min_chars <= len(sentence) <= max_chars:
                    out.append(sentence)
                    break
            if len(out) == limit:
                break
        return out
