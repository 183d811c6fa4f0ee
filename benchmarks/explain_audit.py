"""An independent truth audit of the explanations people are shown.

Every claim is read out of the text itself (titles and their years, genres and the films they are credited to,
people and their roles, studios, franchises, keywords, tags, counts and averages, quotes, what the person liked)
and checked against the raw data files, parsed here on their own (movies.csv, ratings.csv, tags.csv, links.csv,
reviews/reviews.csv, tmdb/*, imdb/movie_metadata.csv): never against the explainer's evidence or checker. A phrase
that states something the audit cannot check is counted as unverifiable, and a card that reads as nonsense
(perplexity under SmolLM2 above a threshold, a repeated word, an unfinished sentence, code-like or instruction-like
text, a dangling adjective) is counted too. Per explainer it reports false claims per 100 claims and per card,
unverifiable phrases, nonsense cards, evidence items per card, the share of cards citing more than genres and
co-like counts, the unique-sentence ratio and Distinct-2.

    python benchmarks/explain_audit.py generate --store runs/index --out runs/audit/template.jsonl
    python benchmarks/explain_audit.py generate --store runs/index --out runs/audit/model.jsonl --explainer model
    python benchmarks/explain_audit.py score --data ../shared/data runs/audit/template.jsonl [...more.jsonl]

``generate`` runs the Python API over a fixed set of 54 pages (long MovieLens histories, short ones, chat likes,
dislikes only, one obscure film, steered pages, searches, cold starts) and writes what each card says; ``--code``
runs another checkout's code (e.g. the previous version) on the same pages.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import gzip
import json
import math
import os
import re
import sys
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import ftfy
import numpy as np
import pandas as pd

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# --------------------------------------------------------------------------------------------------------------
# The raw data, parsed independently of cinefuse's readers
# --------------------------------------------------------------------------------------------------------------

GENRE_FORMS: dict[str, set[str]] = {  # how a text may name a genre -> the canonical genres it may mean
    "action": {"action"}, "adventure": {"adventure"}, "animation": {"animation"}, "animated": {"animation"},
    "children's": {"children", "family"}, "children": {"children", "family"}, "kids": {"children", "family"},
    "family": {"children", "family"}, "comedy": {"comedy"}, "comedic": {"comedy"}, "crime": {"crime"},
    "documentary": {"documentary"}, "drama": {"drama"}, "dramatic": {"drama"}, "fantasy": {"fantasy"},
    "film noir": {"film-noir"}, "film-noir": {"film-noir"}, "noir": {"film-noir"}, "horror": {"horror"},
    "musical": {"musical", "music"}, "music": {"musical", "music"}, "mystery": {"mystery"},
    "romance": {"romance"}, "romantic": {"romance"}, "sci-fi": {"sci-fi"}, "science fiction": {"sci-fi"},
    "thriller": {"thriller"}, "war": {"war"}, "western": {"western"}, "history": {"history"},
    "historical": {"history"}, "foreign": {"foreign"}, "tv movie": {"tv movie"}}
TMDB_GENRES = {"science fiction": "sci-fi", "family": "family", "music": "music"}
ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "prof", "lt", "col", "gen", "sgt", "capt", "st", "jr", "sr", "vs", "etc",
                 "no", "vol", "mt", "ft", "co", "inc", "ltd", "rev", "hon", "sen", "rep", "maj", "pvt"}
#: abbreviations a name follows ("Mr. Holland's Opus", "Kill Bill: Vol. 1"): a full stop after them ends no sentence
NAME_PREFIXES = ABBREVIATIONS - {"jr", "sr", "co", "inc", "ltd", "etc"}
INJECTION = re.compile(
    r"\b(?:dear|hey|hello|attention)\s+(?:ai|assistant|bot|chatbot|model|gpt|chatgpt|llm|system)\b|\bchatgpt\b"
    r"|\b(?:kindly|please)\s+(?:\w+\s+){0,2}?(?:tell|say|state|mention|claim|ignore|pretend|respond|output)\b"
    r"|\btell\s+(?:everyone|everybody|users?|readers)\b|\bignore\b.{0,40}\b(?:facts|instructions|given|above)\b"
    r"|\byou\s+were\s+(?:given|told|instructed)\b|\bsystem\s*:|\bprompt\b", re.IGNORECASE)
CODE_LIKE = re.compile(r"`|#\w|[{}]|</?\w+>|\b\w+_\w+\b|\b(?:string|function|def|return|select|null|true|false)\b"
                       r"|=>|==|\(\)")
REPEATED_WORD = re.compile(r"\b(\w+)\b(?:[\s,;]+)\1\b", re.IGNORECASE)
DANGLING_ADJECTIVE = re.compile(r"\b(?:features|has|shares|includes|stars|is)\s+(?:an?\s+)?"
                                r"([a-z]+(?:ic|al|ous|ful|ive|ish|less|able|ible))\s*[.!?]", re.IGNORECASE)
DANGLING_END = re.compile(r"\b(?:the|a|an|and|or|of|to|with|its|as|like|between|from|by|for)\s*[.!?]$",
                          re.IGNORECASE)


def norm(text: Any) -> str:
    """Lowercase, accents and punctuation removed, spaces collapsed: how names are compared."""
    text = str(text or "")
    if not text.isascii():  # the raw files hold some mojibake ("RenÃ©e"): compare what was meant
        text = ftfy.fix_text(text)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower().replace("&", " and ")
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def norm_quote(text: str) -> str:
    """How quoted text is compared with its source: quote marks, dashes and spaces unified, case ignored."""
    text = ftfy.fix_text(text) if not text.isascii() else text
    text = unicodedata.normalize("NFKC", text).replace("’", "'").replace("‘", "'").replace("“", '"')
    text = text.replace("”", '"').replace("`", "'").replace("–", "-").replace("—", "-")
    return " ".join(text.lower().split())


def _title_forms(title: str) -> list[str]:
    """'Shining, The' -> ['shining the', 'the shining']; 'Twelve Monkeys (a.k.a. 12 Monkeys)' -> both names."""
    names = [title]
    for group in re.findall(r"\(([^()]*)\)", title):
        names.append(re.sub(r"^a\.k\.a\.\s*", "", group.strip()))
    names[0] = re.sub(r"\s*\([^()]*\)", "", title).strip()
    out = []
    for name in names:
        out.append(norm(name))
        m = re.match(r"^(.*), (The|A|An|L'|La|Le|Les|Il|El|Das|Der|Die)$", name.strip())
        if m:
            out.append(norm(f"{m.group(2)} {m.group(1)}"))
    return [o for o in out if o]


def _json_list(value: Any, key: str = "name") -> list[str]:
    if not isinstance(value, str) or not value.strip():
        return []
    try:
        data = json.loads(value)
    except ValueError:
        try:
            data = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return []
    if isinstance(data, dict):
        data = [data]
    return [str(d.get(key)) for d in data if isinstance(d, dict) and d.get(key)]


def _pipe(value: Any) -> list[str]:
    return [v.strip() for v in str(value).split("|") if v.strip()] if isinstance(value, str) else []


@dataclass
class Film:
    """What the raw files say about one MovieLens movie."""

    movie_id: int
    title: str
    year: int | None
    genres: set[str] = field(default_factory=set)  # canonical, every source
    ml_genres: set[str] = field(default_factory=set)  # MovieLens' own
    people: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # role -> normalised names
    companies: set[str] = field(default_factory=set)
    collections: set[str] = field(default_factory=set)
    keywords: set[str] = field(default_factory=set)
    tags: set[str] = field(default_factory=set)
    overviews: list[str] = field(default_factory=list)
    reviews: list[tuple[str, float | None]] = field(default_factory=list)

    def anyone(self) -> set[str]:
        return set().union(*self.people.values()) if self.people else set()


class Truth:
    """Every fact the audit checks claims against, read from the raw files in ``data``.

    Example:
        >>> truth = Truth.load("../shared/data")  # doctest: +SKIP
        >>> truth.films[6].people["director"]  # doctest: +SKIP
        {'michael mann'}
    """

    def __init__(self, films: dict[int, Film], ratings: pd.DataFrame) -> None:
        self.films = films
        self.titles: dict[str, set[int]] = defaultdict(set)
        for film in films.values():
            for form in _title_forms(film.title):
                self.titles[form].add(film.movie_id)
        self.rating_count = ratings.groupby("movieId")["rating"].size().to_dict()
        self.rating_mean = ratings.groupby("movieId")["rating"].mean().to_dict()
        loved = ratings[ratings["rating"] >= 4.0]
        self.fans: dict[int, set[int]] = {int(m): set(u.tolist()) for m, u in loved.groupby("movieId")["userId"]}
        counts = np.array(sorted(self.rating_count.values()))
        self.popular_count = float(np.quantile(counts, 0.95)) if len(counts) else math.inf
        self.people = {n for f in films.values() for n in f.anyone()}
        self.companies = {c for f in films.values() for c in f.companies}
        self.collections = {c for f in films.values() for c in f.collections}
        # a film whose title begins with a franchise's name is in it, whatever the files list ("Harry Potter and
        # the Prisoner of Azkaban" is in no collection there): the title is evidence of its own
        named = {c.removesuffix(" collection"): c for c in self.collections}
        for film in films.values():
            words = norm(film.title).split()
            film.collections |= {named[p] for p in (" ".join(words[:k]) for k in range(1, len(words))) if p in named}
        self.keywords = {k for f in films.values() for k in f.keywords}
        self.tags = {t for f in films.values() for t in f.tags}
        self.review_index: dict[str, set[int]] = defaultdict(set)
        self._sentiment: Any = None

    @classmethod
    def load(cls, data: str | Path) -> Truth:
        """Parse every raw file (about 30-60 s on the full data)."""
        root = Path(data)
        ml = root / "ml-latest-small"
        movies = pd.read_csv(ml / "movies.csv")
        films: dict[int, Film] = {}
        for mid, title, genres in zip(movies["movieId"], movies["title"], movies["genres"], strict=True):
            m = re.search(r"\((\d{4})\)\s*$", str(title))
            bare = str(title)[:m.start()].strip() if m else str(title).strip()
            canon = {g.lower() for g in str(genres).split("|") if g and not g.startswith("(")}
            films[int(mid)] = Film(int(mid), bare, int(m.group(1)) if m else None, set(canon), set(canon))
        links = pd.read_csv(ml / "links.csv", dtype={"imdbId": str})
        by_imdb = {f"tt{int(i):07d}": int(m) for m, i in zip(links["movieId"], links["imdbId"], strict=True)
                   if pd.notna(i)}
        by_tmdb = {int(t): int(m) for m, t in zip(links["movieId"], links["tmdbId"], strict=True) if pd.notna(t)}
        tags = pd.read_csv(ml / "tags.csv")
        for mid, tag in zip(tags["movieId"], tags["tag"], strict=True):
            if int(mid) in films:
                films[int(mid)].tags.add(norm(tag))

        def film_of(tmdb: Any = None, imdb: Any = None) -> Film | None:
            mid = None
            try:
                if tmdb is not None and not (isinstance(tmdb, float) and math.isnan(tmdb)):
                    mid = by_tmdb.get(int(float(tmdb)))
            except (TypeError, ValueError):
                mid = None
            if mid is None and isinstance(imdb, str) and imdb.startswith("tt"):
                mid = by_imdb.get(imdb[:9])
            return films.get(mid) if mid is not None else None

        def add_genres(film: Film, names: Iterable[str]) -> None:
            for g in names:
                key = g.lower()
                film.genres.add(TMDB_GENRES.get(key, key))

        def add_crew(film: Film, crew: Iterable[Mapping[str, Any]]) -> None:
            for c in crew:
                job, dept, name = str(c.get("job", "")), str(c.get("department", "")), norm(c.get("name"))
                if job == "Director":
                    film.people["director"].add(name)
                elif dept == "Writing" or job in ("Screenplay", "Writer", "Story", "Novel"):
                    film.people["writer"].add(name)
                elif job in ("Original Music Composer", "Music", "Composer"):
                    film.people["composer"].add(name)
                elif job in ("Producer", "Executive Producer"):
                    film.people["producer"].add(name)

        tmdb_dir = root / "tmdb"
        api = tmdb_dir / "tmdb_api_movies.jsonl.gz"
        if api.exists():
            with gzip.open(api, "rt", encoding="utf-8") as fh:
                for line in fh:
                    if not line.strip():
                        continue
                    d = json.loads(line)
                    film = film_of(d.get("id"), d.get("imdb_id"))
                    if film is None:
                        continue
                    add_genres(film, [g["name"] for g in d.get("genres") or []])
                    keywords = d.get("keywords") or []
                    keywords = keywords.get("keywords", []) if isinstance(keywords, dict) else keywords
                    film.keywords |= {norm(k["name"]) for k in keywords if isinstance(k, dict)}
                    credits = d.get("credits") or {}
                    film.people["cast"] |= {norm(c["name"]) for c in credits.get("cast") or []}
                    add_crew(film, credits.get("crew") or [])
                    film.companies |= {norm(c["name"]) for c in d.get("production_companies") or []}
                    if d.get("belongs_to_collection"):
                        film.collections.add(norm(d["belongs_to_collection"].get("name")))
                    if d.get("overview"):
                        film.overviews.append(str(d["overview"]))
                    reviews = d.get("reviews") or []
                    for r in reviews.get("results", []) if isinstance(reviews, dict) else reviews:
                        if not isinstance(r, dict):
                            r = {"content": str(r)}
                        rating = (r.get("author_details") or {}).get("rating")
                        film.reviews.append((str(r.get("content", "")), float(rating) if rating else None))
        t5 = tmdb_dir / "tmdb_5000_movies.csv"
        if t5.exists():
            frame = pd.read_csv(t5)
            for row in frame.itertuples(index=False):
                film = film_of(row.id)
                if film is None:
                    continue
                add_genres(film, _json_list(row.genres))
                film.keywords |= {norm(k) for k in _json_list(row.keywords)}
                film.companies |= {norm(c) for c in _json_list(row.production_companies)}
                if isinstance(row.overview, str):
                    film.overviews.append(row.overview)
        credits_file = tmdb_dir / "tmdb_5000_credits.csv"
        if credits_file.exists():
            frame = pd.read_csv(credits_file)
            for row in frame.itertuples(index=False):
                film = film_of(row.movie_id)
                if film is None:
                    continue
                film.people["cast"] |= {norm(c) for c in _json_list(row.cast)}
                with contextlib.suppress(TypeError, ValueError):
                    add_crew(film, json.loads(row.crew))
        meta = tmdb_dir / "movies_metadata.csv"
        if meta.exists():
            frame = pd.read_csv(meta, dtype=str, on_bad_lines="skip", engine="python")
            for row in frame.to_dict(orient="records"):
                film = film_of(row.get("id"), row.get("imdb_id"))
                if film is None:
                    continue
                add_genres(film, _json_list(row.get("genres")))
                film.companies |= {norm(c) for c in _json_list(row.get("production_companies"))}
                film.collections |= {norm(c) for c in _json_list(row.get("belongs_to_collection"))}
                if isinstance(row.get("overview"), str):
                    film.overviews.append(row["overview"])
        udacity = tmdb_dir / "tmdb-movies.csv"
        if udacity.exists():
            frame = pd.read_csv(udacity, dtype=str)
            for row in frame.to_dict(orient="records"):
                film = film_of(row.get("id"))
                if film is None:
                    continue
                film.people["cast"] |= {norm(c) for c in _pipe(row.get("cast"))}
                film.people["director"] |= {norm(c) for c in _pipe(row.get("director"))}
                film.keywords |= {norm(k) for k in _pipe(row.get("keywords"))}
                add_genres(film, _pipe(row.get("genres")))
        imdb = root / "imdb" / "movie_metadata.csv"
        if imdb.exists():
            frame = pd.read_csv(imdb, dtype=str)
            for row in frame.to_dict(orient="records"):
                m = re.search(r"(tt\d{7})", str(row.get("movie_imdb_link", "")))
                film = film_of(imdb=m.group(1)) if m else None
                if film is None:
                    continue
                if isinstance(row.get("director_name"), str):
                    film.people["director"].add(norm(row["director_name"]))
                film.people["cast"] |= {norm(row[c]) for c in ("actor_1_name", "actor_2_name", "actor_3_name")
                                        if isinstance(row.get(c), str)}
                film.keywords |= {norm(k) for k in _pipe(row.get("plot_keywords"))}
                add_genres(film, _pipe(row.get("genres")))
        reviews = root / "reviews" / "reviews.csv"
        if reviews.exists():
            frame = pd.read_csv(reviews)
            for imdb_id, rating, text in zip(frame["imdbId"], frame["rating"], frame["text"], strict=True):
                film = film_of(imdb=str(imdb_id))
                if film is not None and isinstance(text, str):
                    film.reviews.append((text, None if pd.isna(rating) else float(rating)))
        ratings = pd.read_csv(ml / "ratings.csv")
        truth = cls(films, ratings)
        return truth

    def sentiment(self, text: str) -> float:
        """VADER's compound score of a text (an independent lexicon model, not the explainer's classifier)."""
        if self._sentiment is None:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

            self._sentiment = SentimentIntensityAnalyzer()
        return float(self._sentiment.polarity_scores(text)["compound"])


# --------------------------------------------------------------------------------------------------------------
# Claims
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Claim:
    """One thing a card states, and whether the raw data bears it out (``ok`` None: cannot be checked)."""

    kind: str
    text: str
    ok: bool | None
    why: str = ""
    item: str = ""  # the evidence item it cites (for evidence-per-card), empty for title-year claims


@dataclass
class PageContext:
    """What the audit may know about a page besides its text: the pick, the person's history and description."""

    movie_id: int
    history: dict[int, float | bool]  # movieId -> rating or like (True) / dislike (False)
    query: str | None = None


_TITLE_YEAR = re.compile(r"\((\d{4})\)")
_QUOTED = re.compile(r"“([^”]*)”|\"([^\"]*)\"")
_CAPITALISED = re.compile(r"(?<![\w'’])(?:[A-Z][\w'’.-]*)(?:\s+(?:(?:de|van|von|der|del|da|di|le|la|du|of)\s+)?"
                          r"[A-Z][\w'’.-]*){1,4}")
_NUMBER = re.compile(r"(?<![\w.,])\d[\d,]*(?:\.\d+)?(?![\w])")
ROLE_CUES = {"director": r"direct", "writer": r"\bwr[io]te|\bwritten|script|screenplay",
             "composer": r"\bmusic|\bscore", "cast": r"\bstar|\bcast|\bfeatur|\bappear|\brole|\bplays?\b|\bin it\b"
             r"|\bis in\b|\bactor|\bactress"}
VAGUE = (r"reads close|is close to|among the closest|much like|same audience|in common with|same words|by meaning|"
         r"looks close|rate films the way|ranks well")
LIKE_VERBS = {"loved": "loved", "adored": "loved", "liked": "liked", "enjoyed": "liked", "disliked": "disliked",
              "hated": "disliked", "rated": "loved"}


class Auditor:
    """Reads the claims out of a card's text and checks each against :class:`Truth`."""

    def __init__(self, truth: Truth) -> None:
        self.truth = truth

    # ----- titles -----------------------------------------------------------------------------------------------
    def titles_in(self, text: str, context: PageContext) -> list[tuple[int, int, set[int], int | None]]:
        """``(start, end, movie ids, year or None)`` for each film the text names: a title followed by its year,
        or a liked/disliked/picked film named without one."""
        out: list[tuple[int, int, set[int], int | None]] = []
        for m in _TITLE_YEAR.finditer(text):
            year = int(m.group(1))
            best: tuple[int, set[int]] | None = None
            head = text[:m.start()].rstrip()
            starts = [0] + [i + 1 for i, c in enumerate(head) if c in " “\"(:;,"]
            for start in starts:
                candidate = head[start:].strip(" “\"")
                if not candidate or not candidate[0].isupper() and not candidate[0].isdigit():
                    continue
                ids = self.truth.titles.get(norm(candidate))
                if ids:  # a remake shares the title: the year says which film is meant
                    best = (start, {i for i in ids if self.truth.films[i].year == year} or ids)
                    break
            if best is None:
                out.append((m.start(), m.end(), set(), year))
            else:
                out.append((best[0] + (len(head[best[0]:]) - len(head[best[0]:].lstrip(" “\""))), m.end(),
                            best[1], year))
        taken = [(s, e) for s, e, _, _ in out]
        for mid in [context.movie_id, *context.history]:
            film = self.truth.films.get(mid)
            if film is None or len(film.title) < 4:
                continue
            for form in {film.title, re.sub(r"^(.*), (The|A|An)$", r"\2 \1", film.title)}:
                for m in re.finditer(rf"(?<![\w]){re.escape(form)}(?![\w])", text):
                    if not any(s <= m.start() < e for s, e in taken):
                        out.append((m.start(), m.end(), {mid}, None))
                        taken.append(m.span())
        return sorted(out)

    # ----- one card ---------------------------------------------------------------------------------------------
    def audit(self, text: str, context: PageContext) -> tuple[list[Claim], int, list[str]]:
        """The claims of one card, the number of unverifiable phrases, and why it reads as nonsense (empty: it
        does not)."""
        claims: list[Claim] = []
        unverifiable = 0
        pick = self.truth.films.get(context.movie_id)
        quotes: list[tuple[int, int, str]] = []
        for m in _QUOTED.finditer(text):
            quotes.append((m.start(), m.end(), m.group(1) if m.group(1) is not None else m.group(2)))
        masked = text
        for s, e, _ in quotes:
            masked = masked[:s] + "q" * (e - s) + masked[e:]
        titles = self.titles_in(masked, context)
        for s, e, ids, year in titles:
            if year is None:
                continue
            span = text[s:e]
            if not ids:
                claims.append(Claim("title", span, False, "no film of that title"))
            elif any(self.truth.films[i].year == year for i in ids):
                claims.append(Claim("title", span, True))
            else:
                years = sorted({self.truth.films[i].year or 0 for i in ids})
                claims.append(Claim("title", span, False, f"wrong year (the data says {years})"))
        for s, e, _, _ in titles:
            masked = masked[:s] + "_" * (e - s) + masked[e:]
        sentences = [(s, e) for s, e in sentence_spans(masked) if masked[s:e].strip()]
        for s0, e0 in sentences:
            sentence_claims = self._sentence(text, masked, s0, e0, titles, quotes, context, pick)
            claims += sentence_claims
            vague = re.search(VAGUE, masked[s0:e0])
            if (not sentence_claims and not re.fullmatch(r"\W*", masked[s0:e0])) or vague:
                unverifiable += 1
        nonsense = self.nonsense(text, masked)
        return claims, unverifiable, nonsense

    def _sentence(self, text: str, masked: str, s0: int, e0: int,
                  titles: Sequence[tuple[int, int, set[int], int | None]], quotes: Sequence[tuple[int, int, str]],
                  context: PageContext, pick: Film | None) -> list[Claim]:
        out: list[Claim] = []
        sentence = masked[s0:e0]
        low = sentence.lower()
        here = [(s, e, ids) for s, e, ids, _ in titles if s0 <= s < e0]
        marked_sentence = sentence
        for k, (s, e, _ids) in reversed(list(enumerate(here))):
            marked_sentence = marked_sentence[:s - s0] + f"TITLE{k}" + marked_sentence[e - s0:]
        film_ids = [ids for _, _, ids in here]
        disliked_titles: set[int] = set()

        # what the person liked
        for m in re.finditer(r"\byou (?:really |also |both |have )?(loved|adored|liked|enjoyed|disliked|hated|"
                             r"rated)\b([^;:]*)", marked_sentence, re.IGNORECASE):
            stance = LIKE_VERBS[m.group(1).lower()]
            rest = m.group(2)
            cut = re.search(r",? (?:and )?(?:it|this one|this|its)\b|, (?:so|but)\b", rest)
            named = [int(k) for k in re.findall(r"TITLE(\d+)", rest[:cut.start()] if cut else rest)]
            if re.match(r"\s*(?:it|this one|this film|this movie)\b", rest):
                out.append(Claim("liked", m.group(0), False, "says you already liked the pick itself"))
            for k in named:
                out.append(self._liked(film_ids[k], stance, context, m.group(0)))
                if stance == "disliked":
                    disliked_titles |= film_ids[k]
        for m in re.finditer(r"TITLE(\d+),? (?:which|that|whom) you (?:really |also )?(loved|adored|liked|enjoyed|"
                             r"disliked|hated|rated)", marked_sentence):
            stance = LIKE_VERBS[m.group(2)]
            out.append(self._liked(film_ids[int(m.group(1))], stance, context, m.group(0)))
            if stance == "disliked":
                disliked_titles |= film_ids[int(m.group(1))]
        for m in re.finditer(r"TITLE(\d+),? (?:one of your favou?rites|a favou?rite of yours|a film you (loved|liked))",
                             marked_sentence):
            out.append(self._liked(film_ids[int(m.group(1))], "loved", context, m.group(0)))

        # co-likes and counts
        who = r"(?:people|viewers|users|fans)(?: here)?"
        co = [(rf"(\d[\d,]*) of the (\d[\d,]*) {who} who loved TITLE(\d+)", (1, 2, 3)),
              (rf"Of the (\d[\d,]*) {who} who loved TITLE(\d+), (\d[\d,]*)", (3, 1, 2)),
              (rf"(\d[\d,]*) {who} (?:who )?loved both TITLE(\d+)", (1, None, 2)),
              (rf"(\d[\d,]*) {who} who loved TITLE(\d+)", (1, None, 2))]
        numbers_used: set[str] = set()
        matched_co = False
        for pattern, (n_i, m_i, t_i) in co:
            for m in re.finditer(pattern, marked_sentence):
                matched_co = True
                n = int(m.group(n_i).replace(",", ""))
                fans_of = set().union(*(self.truth.fans.get(i, set()) for i in film_ids[int(m.group(t_i))]))
                both = len(fans_of & self.truth.fans.get(context.movie_id, set()))
                ok = n == both
                why = "" if ok else f"the data says {both} loved both"
                if m_i is not None:
                    total = int(m.group(m_i).replace(",", ""))
                    numbers_used.add(m.group(m_i))
                    if total != len(fans_of):
                        ok, why = False, f"{why}; {len(fans_of)} loved the liked film".strip("; ")
                numbers_used.add(m.group(n_i))
                out.append(Claim("co_like", m.group(0), ok, why, item=f"co_like:{n}"))
            if matched_co:
                break
        if not matched_co:
            for m in re.finditer(r"(?:fans of|people who loved|viewers who loved|favou?rite among fans of) TITLE(\d+)",
                                 marked_sentence, re.IGNORECASE):
                fans_of = set().union(*(self.truth.fans.get(i, set()) for i in film_ids[int(m.group(1))]))
                both = len(fans_of & self.truth.fans.get(context.movie_id, set()))
                out.append(Claim("co_like", m.group(0), both >= 5, f"only {both} loved both", item="co_like"))
        count = self.truth.rating_count.get(context.movie_id, 0)
        for m in re.finditer(r"(\d[\d,]*) (?:(?:people|person) here (?:have|has) rated|ratings?\b|people have "
                             r"rated)|rated by (?:just |only )?(\d[\d,]*) (?:people|person)"
                             r"|(?:only|just) (\d[\d,]*) (?:people|person) here", sentence):
            value = next(g for g in m.groups() if g)
            numbers_used.add(value)
            n = int(value.replace(",", ""))
            out.append(Claim("count", m.group(0), n == count, f"the data says {count} ratings", item="count"))
        for m in re.finditer(r"(\d\.\d)★", sentence):
            numbers_used.add(m.group(1))
            mean = self.truth.rating_mean.get(context.movie_id)
            ok = mean is not None and abs(mean - float(m.group(1))) <= 0.05 + 1e-9  # the mean to one decimal
            out.append(Claim("mean", m.group(0), ok, f"the data says {mean}", item="mean"))
        if re.search(r"most[- ](?:watched|popular|rated|loved)|best[- ]loved|highest[- ]rated|top[- ]rated", low):
            ok = count >= self.truth.popular_count
            out.append(Claim("superlative", sentence.strip(), ok, f"{count} ratings (top 5% needs "
                                                                   f"{self.truth.popular_count:.0f})"))
        for m in _NUMBER.finditer(sentence):
            if m.group() not in numbers_used and not re.fullmatch(r"\d\.\d", m.group()):
                out.append(Claim("number", m.group(), None, "a number the audit cannot place"))

        # no genre in common with a disliked film
        disjoint = re.search(r"(?:shares none of its genres|no genre in common)", marked_sentence)
        if disjoint:
            for ids in film_ids:
                for i in ids:
                    if pick is not None and i in self.truth.films:
                        ok = not (pick.ml_genres & self.truth.films[i].ml_genres)
                        out.append(Claim("genre_disjoint", disjoint.group(0), ok, "they share a genre",
                                         item="disliked"))

        subjects = [i for ids in film_ids for i in ids if i not in disliked_titles]
        attributed = [pick] if pick is not None else []
        attributed += [self.truth.films[i] for i in subjects if i in self.truth.films and i != context.movie_id]
        # people
        taken: list[tuple[int, int]] = []
        for m in _CAPITALISED.finditer(sentence):
            name = m.group().strip()
            if "_" in name:
                continue
            key = norm(name)
            if key.startswith("the ") and key[4:] in self.truth.collections:
                key = key[4:]
            if key in self.truth.collections and "collection" in key:
                ok = all(key in f.collections for f in attributed)
                out.append(Claim("collection", name, ok, "" if ok else "not every film named is in it",
                                 item=f"collection:{key}"))
                taken.append(m.span())
            elif key in self.truth.people and len(key.split()) >= 2:
                roles = [r for r, cue in ROLE_CUES.items() if re.search(cue, low)]
                ok = all(any(key in f.people.get(r, set()) for r in roles) if roles else key in f.anyone()
                         for f in attributed)
                why = "" if ok else f"not credited ({'/'.join(roles) or 'any role'}) on every film named"
                out.append(Claim("person", name, ok, why, item=f"person:{key}"))
                taken.append(m.span())
            elif key in self.truth.companies:
                ok = all(key in f.companies for f in attributed)
                out.append(Claim("company", name, ok, "" if ok else "not a studio of every film named",
                                 item=f"company:{key}"))
                taken.append(m.span())
            elif re.search(r"(?:directed by|stars|starring|written by|music by|produced by|features)\s+$",
                           sentence[:m.start()]) and m.start() > 0:
                out.append(Claim("person", name, False, "no such person in the data"))
        # genres
        forms = "|".join(sorted((re.escape(f) for f in GENRE_FORMS), key=len, reverse=True))
        pattern = rf"\b((?:{forms})(?:(?:,| and| or) (?:{forms}))*)(?: (?:film|films|movie|movies|genres?|pick|" \
                  rf"picture|streak|story|tale|comedy|drama))\b|a mix of ((?:{forms}) and (?:{forms}))\b"
        for m in re.finditer(pattern, low):
            group = m.group(1) or m.group(2)
            for word in re.split(r",| and | or ", group):
                word = word.strip()
                if word not in GENRE_FORMS:
                    continue
                allowed = GENRE_FORMS[word]
                ok = all(f.genres & allowed for f in attributed)
                out.append(Claim("genre", f"{word} ({m.group(0)})", ok, "" if ok else "not a genre of every film named",
                                 item=f"genre:{sorted(allowed)[0]}"))
        # quotes: labels (keywords, tags, words of the plot summary) and quoted sentences
        def is_query(body: str) -> bool:
            return bool(context.query and norm(body) and norm(body) in norm(context.query))

        for qs, _, body in quotes:
            if not s0 <= qs < e0 or is_query(body):
                continue
            # what introduces this quote: the sentence since the previous quote (the person's description aside)
            start = max([e for s, e, b in quotes if s0 <= s and e <= qs and not is_query(b)], default=s0)
            before = masked[start:qs].lower()
            words = body.split()
            if len(words) <= 5 and not re.search(r"[.!?]$", body.strip()):
                key = norm(body)
                if "plot summary" in before or "summary mentions" in before:
                    ok = pick is not None and any(re.search(rf"\b{re.escape(key)}\b", norm(o)) for o in pick.overviews)
                    out.append(Claim("overview_word", body, ok, "" if ok else "not in its plot summary",
                                     item=f"overview:{key}"))
                    continue
                kind = "tag" if "tag" in before else "keyword" if "keyword" in before or "filed" in before \
                    or "listed" in before else "label"
                pools = {"tag": lambda f: f.tags, "keyword": lambda f: f.keywords,
                         "label": lambda f: f.tags | f.keywords}[kind]
                ok = all(key in pools(f) for f in attributed)
                why = "" if ok else f"not a {kind} of every film named"
                out.append(Claim(kind, body, ok, why, item=f"{kind}:{key}"))
                continue
            out.append(self._quote(body, before, pick))
        return out

    def _liked(self, ids: set[int], stance: str, context: PageContext, phrase: str) -> Claim:
        said = [context.history[i] for i in ids if i in context.history]
        if not said:
            return Claim("liked", phrase, False, "not in the person's history", item="liked")
        value = said[0]
        if stance == "disliked":
            ok = value is False or (not isinstance(value, bool) and float(value) <= 2.5)
        elif stance == "loved":
            ok = value is True or (not isinstance(value, bool) and float(value) >= 4.0)
        else:
            ok = value is True or (not isinstance(value, bool) and float(value) >= 3.5)
        return Claim("liked", phrase, ok, "" if ok else f"the person said {value!r}", item=f"liked:{min(ids)}")

    def _quote(self, body: str, before: str, pick: Film | None) -> Claim:
        quoted = norm_quote(body)
        if INJECTION.search(body):
            return Claim("quote", body[:60], False, "instruction-like text shown as a quote")
        if "plot summary" in before or "summary:" in before:
            ok = pick is not None and any(quoted in norm_quote(o) for o in pick.overviews)
            return Claim("overview_quote", body[:60], ok, "" if ok else "not in its plot summary", item="overview")
        if pick is None:
            return Claim("quote", body[:60], False, "unknown film")
        for review, rating in pick.reviews:
            source = norm_quote(re.sub(r"<br\s*/?>", " ", review))
            at = source.find(quoted)
            if at < 0:
                continue
            whole = (at == 0 or re.search(r"[.!?][\"')]*\s$", source[:at]) is not None) and \
                re.search(r"[.!?][\"')]*$", quoted) is not None
            last = re.sub(r"[.!?\"')]+$", "", quoted).rsplit(" ", 1)[-1]
            if not whole or last in ABBREVIATIONS or re.fullmatch(r"[a-z]", last):
                return Claim("quote", body[:60], False, "not a whole sentence of the review")
            if rating is not None:
                ok = rating >= 7
                return Claim("quote", body[:60], ok, "" if ok else f"from a review rated {rating:g}/10",
                             item=f"quote:{quoted[:30]}")
            score = min(self.truth.sentiment(review), self.truth.sentiment(body))
            ok = score >= 0.05
            return Claim("quote", body[:60], ok, "" if ok else f"from a review VADER reads as negative ({score:.2f})",
                         item=f"quote:{quoted[:30]}")
        return Claim("quote", body[:60], False, "not in any review of this film")

    # ----- nonsense ---------------------------------------------------------------------------------------------
    def nonsense(self, text: str, masked: str | None = None) -> list[str]:
        """Why a card reads as nonsense, by rule (perplexity is added by :func:`perplexities`); ``masked`` is the
        text with its titles blanked, so "Kiss Kiss Bang Bang (2005)" is not a repeated word."""
        out = []
        body = _QUOTED.sub("“Q”", text.strip())
        if not body:
            return ["empty"]
        words = _QUOTED.sub("“Q”", masked.strip()) if masked is not None else body
        if REPEATED_WORD.search(words):
            out.append(f"repeated word '{REPEATED_WORD.search(words).group(0)}'")  # type: ignore[union-attr]
        if not re.search(r"[.!?][”\"')]*$", text.strip()) or DANGLING_END.search(body):
            out.append("unfinished sentence")
        if CODE_LIKE.search(body):
            out.append("code-like text")
        if INJECTION.search(text):
            out.append("instruction-like text")
        if DANGLING_ADJECTIVE.search(body):
            out.append(f"dangling adjective '{DANGLING_ADJECTIVE.search(body).group(0)}'")  # type: ignore[union-attr]
        return out


def perplexities(texts: Sequence[str], batch_size: int = 16) -> list[float]:
    """Each text's perplexity under SmolLM2-135M-Instruct as a plain text continuation (no chat template)."""
    import torch

    from recommender.explain.lm import load_base_model

    model, tokenizer = load_base_model()
    tokenizer.padding_side = "right"
    out: list[float] = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = [t or "." for t in texts[start:start + batch_size]]
            enc = tokenizer(batch, return_tensors="pt", padding=True)
            logits = model(**enc).logits[:, :-1].float()
            target = enc["input_ids"][:, 1:]
            mask = enc["attention_mask"][:, 1:].bool()
            nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), target, reduction="none")
            for row in range(len(batch)):
                out.append(float(torch.exp(nll[row][mask[row]].mean())) if mask[row].any() else math.inf)
    return out


# --------------------------------------------------------------------------------------------------------------
# Scoring a set of pages
# --------------------------------------------------------------------------------------------------------------

BEYOND_GENRE = ("person", "keyword", "tag", "label", "company", "collection", "quote", "overview_quote",
                "overview_word")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Where a card's sentences are: split after ``.!?`` before a capital, never inside a number ("3.5★"), after
    an abbreviation ("Mr. Holland's Opus", "Warner Bros. produced") or inside quotes.

    Example:
        >>> text = "Mr. Holland's Opus (1995) is 3.5★. A review says: “Great. Fun.” It is good."
        >>> [text[s:e] for s, e in sentence_spans(text)]
        ["Mr. Holland's Opus (1995) is 3.5★.", 'A review says: “Great. Fun.”', 'It is good.']
    """
    out, start = [], 0
    quoted = [m.span() for m in _QUOTED.finditer(text)]
    for m in re.finditer(r"[.!?]+[”\"']?\s+(?=[A-Z0-9_“\"])", text):
        if any(s < m.start() and m.end() <= e for s, e in quoted):
            continue
        word = re.search(r"(?<![\w'’])(\w+)[.!?]*$", text[start:m.start() + 1])
        if word and (word.group(1).lower() in NAME_PREFIXES or len(word.group(1)) == 1):
            continue
        out.append((start, m.end() - (len(m.group()) - len(m.group().rstrip()))))
        start = m.end()
    if text[start:].strip():
        out.append((start, len(text)))
    return out


def split_sentences(text: str) -> list[str]:
    """A card's sentences (see :func:`sentence_spans`).

    Example:
        >>> split_sentences("Warner Bros. produced it. It stars Robert Downey Jr. 10 people loved it.")
        ['Warner Bros. produced it.', 'It stars Robert Downey Jr.', '10 people loved it.']
    """
    return [text[s:e].strip() for s, e in sentence_spans(text)]


def _sentences(text: str, fold_quotes: bool = False) -> list[str]:
    return [" ".join((_QUOTED.sub("“q”", s) if fold_quotes else s).lower().split()) for s in split_sentences(text)
            if s.strip(" .!?")]


def distinct_2(texts: Sequence[str]) -> float:
    """Distinct bigrams over all bigrams of the texts (lowercased words).

    Example:
        >>> distinct_2(["a b c", "a b d"])
        0.75
    """
    grams = [tuple(w[i:i + 2]) for t in texts for w in [re.findall(r"\w+", t.lower())] for i in range(len(w) - 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def unique_sentence_ratio(texts: Sequence[str], fold_quotes: bool = False) -> float:
    """Distinct sentences over all sentences, as shown; with ``fold_quotes`` every quoted span (a review, a plot
    summary, the person's description, a keyword) reads the same, so only the frames around them are compared.

    Example:
        >>> unique_sentence_ratio(["It is good. It is fun.", "It is good."])
        0.6666666666666666
        >>> unique_sentence_ratio(["A review says: “Great.”", "A review says: “Fun.”"], fold_quotes=True)
        0.5
    """
    sentences = [s for t in texts for s in _sentences(t, fold_quotes)]
    return len(set(sentences)) / len(sentences) if sentences else 0.0


def score_cards(cards: Sequence[Mapping[str, Any]], truth: Truth, ppl_threshold: float | None,
                ppl: Sequence[float] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The audit's summary over cards (``text``, ``movie_id``, ``history``, ``query``), and each card's claims."""
    auditor = Auditor(truth)
    rows = []
    for i, card in enumerate(cards):
        history = {int(k): v for k, v in (card.get("history") or {}).items()}
        claims, unverifiable, nonsense = auditor.audit(card["text"], PageContext(int(card["movie_id"]), history,
                                                                                 card.get("query")))
        if ppl is not None and ppl_threshold is not None and ppl[i] > ppl_threshold:
            nonsense.append(f"perplexity {ppl[i]:.0f}")
        items = {c.item for c in claims if c.ok and c.item}
        rows.append({"text": card["text"], "reason": card.get("reason"), "claims": [asdict(c) for c in claims],
                     "false": sum(c.ok is False for c in claims), "checked": sum(c.ok is not None for c in claims),
                     "unverifiable": unverifiable + sum(c.ok is None for c in claims), "nonsense": nonsense,
                     "items": len(items), "beyond": any(c.ok and c.kind in BEYOND_GENRE for c in claims),
                     "perplexity": None if ppl is None else ppl[i]})
    checked = sum(r["checked"] for r in rows)
    false = sum(r["false"] for r in rows)
    texts = [r["text"] for r in rows]
    summary = {"cards": len(rows), "claims": checked, "false": false,
               "false_per_100_claims": 100 * false / checked if checked else 0.0,
               "false_per_card": false / len(rows) if rows else 0.0,
               "cards_with_false": sum(r["false"] > 0 for r in rows),
               "unverifiable_per_card": sum(r["unverifiable"] for r in rows) / len(rows) if rows else 0.0,
               "nonsense_cards": sum(bool(r["nonsense"]) for r in rows),
               "evidence_per_card": sum(r["items"] for r in rows) / len(rows) if rows else 0.0,
               "beyond_genre_share": sum(r["beyond"] for r in rows) / len(rows) if rows else 0.0,
               "unique_sentence_ratio": unique_sentence_ratio(texts),
               "unique_frame_ratio": unique_sentence_ratio(texts, fold_quotes=True), "distinct_2": distinct_2(texts),
               "false_by_kind": dict(Counter(c["kind"] for r in rows for c in r["claims"] if c["ok"] is False)),
               "nonsense_by_rule": dict(Counter(n.split(" ")[0] for r in rows for n in r["nonsense"]))}
    return summary, rows


# --------------------------------------------------------------------------------------------------------------
# The pages
# --------------------------------------------------------------------------------------------------------------

CHAT_PAIRS = [("Heat (1995)", "Alien (1979)"), ("Toy Story (1995)", "Up (2009)"),
              ("Matrix, The (1999)", "Inception (2010)"),
              ("Goodfellas (1990)", "Casino (1995)"), ("Fargo (1996)", "Seven (a.k.a. Se7en) (1995)"),
              ("Notting Hill (1999)", "Pretty Woman (1990)")]
DISLIKES = [("Titanic (1997)", "Pretty Woman (1990)", "Notting Hill (1999)"),
            ("Saw (2004)", "Scream (1996)", "Hostel (2005)"),
            ("Toy Story (1995)", "Finding Nemo (2003)", "Shrek (2001)"),
            ("Dumb & Dumber (Dumb and Dumber) (1994)", "Ace Ventura: Pet Detective (1994)", "Mask, The (1994)")]
STEERS = [("Toy Story (1995)", "darker"), ("Heat (1995)", "a heist that goes wrong"),
          ("Alien (1979)", "funny"), ("Forrest Gump (1994)", "war"), ("Shining, The (1980)", "ghosts"),
          ("Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)", "romantic comedy in Paris")]
SEARCHES = ["a heist that goes wrong", "a lone astronaut in space", "Tom Hanks", "a haunted house",
            "a boxer fights for a title"]


def page_specs(ratings: pd.DataFrame, movies: pd.DataFrame, seed: int = 0) -> list[dict[str, Any]]:
    """The fixed set of 54 pages: 12 long MovieLens histories (user_id), 10 short real histories (5 ratings), 6
    chat pairs of likes, 4 dislikes-only, 4 histories of one obscure liked film, 6 steered pages, 5 searches, 3
    cold starts with a genre filter and 4 chat likes and dislikes mixed."""
    rng = np.random.default_rng(seed)
    title_of = dict(zip(movies["movieId"], movies["title"], strict=True))
    by_title = {t: int(m) for m, t in title_of.items()}
    per_user = ratings.groupby("userId").size().sort_values(ascending=False)
    specs: list[dict[str, Any]] = []
    for u in [int(per_user.index[0]), *rng.choice(per_user.index[per_user >= 200].to_numpy(), 11, replace=False)]:
        specs.append({"kind": "long history", "user_id": int(u)})
    for u in rng.choice(per_user.index.to_numpy(), 10, replace=False):
        rows = ratings[ratings["userId"] == u].sample(5, random_state=int(u))
        history = {int(m): float(r) for m, r in zip(rows["movieId"], rows["rating"], strict=True)}
        specs.append({"kind": "short history", "history": history})
    for a, b in CHAT_PAIRS:
        specs.append({"kind": "chat likes", "history": {by_title[a]: True, by_title[b]: True}})
    for titles in DISLIKES:
        specs.append({"kind": "dislikes only", "history": {by_title[t]: False for t in titles}})
    counts = ratings.groupby("movieId").size()
    obscure = counts[counts <= 2].index.to_numpy()
    for m in rng.choice(obscure, 4, replace=False):
        specs.append({"kind": "one obscure film", "history": {int(m): True}})
    for title, steer in STEERS:
        specs.append({"kind": "steered", "history": {by_title[title]: True}, "steer": steer})
    for text in SEARCHES:
        specs.append({"kind": "search", "history": {}, "steer": text})
    for genre in ("Comedy", "Drama", "Animation"):
        specs.append({"kind": "cold start", "history": {}, "genre": genre})
    for (a, b), (c, *_) in zip(CHAT_PAIRS[:4], DISLIKES, strict=False):
        mixed = {by_title[a]: True, by_title[b]: 4.5, by_title[c]: False}
        specs.append({"kind": "likes and dislikes", "history": mixed})
    return specs


def generate(args: argparse.Namespace) -> None:
    """Run the explainer over every page and write one JSON line per page."""
    code = Path(args.code).resolve() if args.code else Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(code))
    from index.store import Filters
    from recommender.api import Recommender, as_history

    data = Path(args.data)
    ratings = pd.read_csv(data / "ml-latest-small" / "ratings.csv")
    movies = pd.read_csv(data / "ml-latest-small" / "movies.csv")
    specs = page_specs(ratings, movies)[:: args.every][: args.pages]
    rec = Recommender.open(args.store)
    if args.explainer != "auto":
        from recommender.explain.service import load_explainer

        rec.explainer = load_explainer(rec.settings, args.explainer)
        if args.free_text:  # the previous design: the model writes from the facts, a checker filters
            rec.explainer.rewrite = False
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    popular_line = "One of the most-watched recent films here: {n:,} ratings, {r:.1f}★ on average."
    timings = []
    with out.open("w", encoding="utf-8") as fh:
        for number, spec in enumerate(specs):
            user_id = spec.get("user_id")
            history: dict[int, Any] = spec.get("history") or {}
            if user_id is not None:
                history = {int(m): float(r) for m, r in
                           ratings[ratings["userId"] == user_id][["movieId", "rating"]].itertuples(index=False)}
            filters = Filters(genres=[spec["genre"]]) if spec.get("genre") else None
            recs = rec.recommend(None if user_id is not None else (history or None), user_id=user_id, k=args.k,
                                 filters=filters, diversity=0.85, steer=spec.get("steer"))
            items = rec.history_of(user_id) if user_id is not None else as_history(history or None, rec.titles)
            started = time.perf_counter()
            rec.explain(recs, items)  # evidence and text for the whole page, as recommend(explain=True) does
            timings.append(time.perf_counter() - started)
            cards = []
            for r in recs:
                text = r.explanation
                if text is None:  # what the app showed for cards the API left unexplained (the previous version)
                    p = rec.payloads.get(r.movie_id, {})
                    text = {"search": "It matches your description.",
                            "popular": popular_line.format(n=p.get("rating_count") or 0, r=p.get("rating_mean") or 0),
                            "similar": "It is close to the movie you picked."}.get(r.reason, "")
                cards.append({"movie_id": r.movie_id, "title": r.title, "reason": r.reason, "text": text})
            fh.write(json.dumps({"page": number, "kind": spec["kind"], "spec": spec,
                                 "history": {str(k): v for k, v in history.items()}, "query": spec.get("steer"),
                                 "cards": cards, "seconds": timings[-1]}, ensure_ascii=False) + "\n")
            print(f"page {number + 1}/{len(specs)} ({spec['kind']}): {len(cards)} cards explained in "
                  f"{timings[-1]:.2f}s", file=sys.stderr)
    print(f"wrote {out}: {len(specs)} pages; explaining a page took {np.median(timings):.3f}s median, "
          f"{np.percentile(timings, 95):.3f}s p95, {max(timings):.3f}s worst")


def load_pages(path: str | Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def cards_of(pages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per card, carrying its page's history and description."""
    return [{**card, "history": page.get("history") or {}, "query": page.get("query"), "kind": page.get("kind")}
            for page in pages for card in page["cards"]]


def score(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    started = time.perf_counter()
    truth = Truth.load(args.data)
    print(f"raw data parsed in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    results = {}
    for path in args.files:
        pages = load_pages(path)
        cards = cards_of(pages)
        ppl = None if args.no_perplexity else perplexities([c["text"] for c in cards])
        summary, rows = score_cards(cards, truth, args.perplexity, ppl)
        summary["pages"] = len(pages)
        seconds = [p.get("seconds", 0.0) for p in pages]
        summary["median_page_s"] = float(np.median(seconds))
        summary["p95_page_s"] = float(np.percentile(seconds, 95))
        results[Path(path).stem] = summary
        if args.details:
            Path(args.details).mkdir(parents=True, exist_ok=True)
            with open(Path(args.details) / f"{Path(path).stem}.claims.jsonl", "w", encoding="utf-8") as fh:
                for row in rows:
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    if args.json:
        print(json.dumps(results, indent=1))
        return
    keys = ["pages", "cards", "claims", "false", "false_per_100_claims", "false_per_card", "cards_with_false",
            "unverifiable_per_card", "nonsense_cards", "evidence_per_card", "beyond_genre_share",
            "unique_sentence_ratio", "unique_frame_ratio", "distinct_2", "median_page_s", "p95_page_s"]
    print("| metric | " + " | ".join(results) + " |")
    print("|---|" + "---|" * len(results))
    for key in keys:
        cells = [f"{r[key]:.3f}" if isinstance(r[key], float) else str(r[key]) for r in results.values()]
        print(f"| {key} | " + " | ".join(cells) + " |")
    for name, r in results.items():
        print(f"\n{name}: false claims by kind {r['false_by_kind']}; nonsense by rule {r['nonsense_by_rule']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="explain the fixed page set and write it as JSON lines")
    g.add_argument("--store", default="runs/index")
    g.add_argument("--data", default="../shared/data")
    g.add_argument("--out", required=True)
    g.add_argument("--explainer", default="auto", choices=["auto", "template", "model"])
    g.add_argument("--pages", type=int, default=54)
    g.add_argument("-k", type=int, default=10)
    g.add_argument("--code", help="run another checkout's cinefuse (e.g. the previous version) on the same pages")
    g.add_argument("--free-text", action="store_true",
                   help="with --explainer model: let the model write from the facts instead of rewriting the template")
    g.add_argument("--every", type=int, default=1, help="take every n-th page only (a quick subset of every kind)")
    g.set_defaults(func=generate)
    s = sub.add_parser("score", help="audit written pages against the raw data")
    s.add_argument("files", nargs="+")
    s.add_argument("--data", default="../shared/data")
    s.add_argument("--perplexity", type=float, default=300.0,
                   help="a card above this perplexity under SmolLM2 counts as nonsense (default 300)")
    s.add_argument("--no-perplexity", action="store_true")
    s.add_argument("--details", help="a folder for each card's claims")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=score)
    args = ap.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
