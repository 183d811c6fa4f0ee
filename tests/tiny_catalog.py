"""A 30-movie catalog whose genres, overviews, reviews and ratings make the right answer obvious.

Three groups of ten: animated family films, horror films and heist films. Sixty users each love one group
(rating 4.5-5) and dislike one other (1-1.5). Poster images are flat colours per group.

With ``metadata=True`` every film also has directors (three per group: films 1-4, 5-7 and 8-10 of a group share
one), a lead cast, a studio per group and keywords, some people's taste follows directors and a franchise (see
:func:`tiny_ratings`), and three films nobody has rated join the catalog
(:data:`UNRATED`): a sequel of heist film 1, a film by the director of heist films 5-7 with nothing else in
common with them but its genres (no plot, no reviews, other actors), and a film with the same genres and no
other metadata at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from index.catalog import Catalog
from index.config import Settings
from index.movie import Movie

GROUPS: dict[str, dict[str, list[str]]] = {
    "animation": {
        "genres": ["Animation", "Children", "Comedy"],
        "overviews": [
            "A cowboy doll and a space ranger toy learn to be friends when their boy moves house.",
            "A young clownfish is lost at sea and his anxious father crosses the ocean to bring him home.",
            "A lonely robot who cleans up an abandoned Earth falls in love and follows her into space.",
            "Talking zoo animals escape from their enclosure and are shipwrecked on a tropical island.",
            "A rat who dreams of being a chef teams up with a clumsy kitchen boy in a Paris restaurant.",
            "A kind ogre and a chatty donkey set off to rescue a princess from a dragon's castle.",
            "The emotions inside a young girl's mind struggle when her family moves to a new city.",
            "A little mermaid princess trades her voice for legs to join the prince she loves.",
            "A family of superheroes hides their powers until a villain lures the father back into action.",
            "A young lion cub flees his kingdom after his father's death and must return to claim it.",
        ],
        "review": "A delightful animated film for kids and parents alike, funny, warm and full of heart.",
    },
    "horror": {
        "genres": ["Horror", "Thriller"],
        "overviews": [
            "A family moves into a haunted farmhouse where a demonic presence terrorizes their daughters.",
            "Teenagers are stalked one by one by a masked killer with a knife on Halloween night.",
            "A possessed girl's mother calls two priests to perform a terrifying exorcism.",
            "A cursed videotape kills whoever watches it seven days later, and a journalist races the clock.",
            "Campers at a lake are murdered by an unseen killer in the dark woods.",
            "A writer and his family are snowed in at a haunted hotel and he slowly turns murderous.",
            "A ghostly child haunts the survivors of a deadly fire in a gloomy old mansion.",
            "A demon invades the nightmares of teenagers and kills them in their sleep.",
            "Strangers wake up trapped in a room by a sadistic killer who forces gruesome games on them.",
            "A woman is hunted through a creepy house by an invisible, blood-thirsty entity.",
        ],
        "review": "Genuinely terrifying and gory horror; the jump scares and the dread kept me awake all night.",
    },
    "heist": {
        "genres": ["Crime", "Action"],
        "overviews": [
            "A crew of professional thieves plans one last bank robbery, but the heist goes wrong.",
            "Eleven con men plot to rob three Las Vegas casinos in a single night.",
            "A master safecracker assembles a team to steal gold bars from a Venice vault.",
            "Detectives chase a gang of armed bank robbers across Los Angeles after a botched score.",
            "A getaway driver is forced into a doomed robbery of a post office by a crime boss.",
            "Thieves posing as bank workers lock hostages inside during an elaborate robbery.",
            "A jewel heist by criminals in colour-coded code names ends in a bloody warehouse standoff.",
            "A thief who steals secrets from dreams is hired for one impossible final job.",
            "Robbers wearing presidents' masks surf by day and rob banks by night.",
            "A veteran crook pulls off an armored car robbery and the police close in on his crew.",
        ],
        "review": "A slick, tense crime thriller: the heist sequences and the double-crosses are brilliant.",
    },
}
COLOURS = {"animation": (250, 200, 40), "horror": (20, 10, 10), "heist": (40, 60, 160)}
DISLIKES = {"animation": "horror", "horror": "heist", "heist": "animation"}


def group_of(movie_id: int) -> str:
    """The group a tiny-catalog movie belongs to: ids 1-10 animation, 11-20 horror, 21-30 heist."""
    return list(GROUPS)[(movie_id - 1) // 10]


#: the unrated films of the metadata variant: movieId -> what it is
UNRATED = {31: "sequel of movie 21", 32: "directed by the director of movies 25-27", 33: "heist genres, nothing else"}
SEQUEL, SAME_DIRECTOR, NO_METADATA = UNRATED


def director_of(movie_id: int) -> str:
    """The director of a tiny-catalog film (metadata variant): films 1-4, 5-7 and 8-10 of a group share one."""
    group, i = divmod(movie_id - 1, 10)
    return f"{list(GROUPS)[group].title()} Director {0 if i < 4 else 1 if i < 7 else 2}"


def _add_metadata(movies: dict[int, Movie]) -> None:
    keywords = {"animation": ["family", "friendship"], "horror": ["haunting", "killer"], "heist": ["robbery", "crew"]}
    for mid, movie in movies.items():
        group = group_of(mid)
        movie.directors = [director_of(mid)]
        movie.cast = [f"{group.title()} Star {(mid + k) % 10}" for k in range(3)]
        movie.companies = [f"{group.title()} Pictures"]
        movie.keywords = [*keywords[group], f"theme {mid}"]
    movies[21].collection = "Heist Film Collection"
    first = movies[21]
    movies[SEQUEL] = Movie(movie_id=SEQUEL, title="Heist Film 1 Part II", year=2012, genres=list(first.genres),
                           overview="The crew of professional thieves reunites for one more bank robbery that goes "
                                    "wrong.", directors=list(first.directors), cast=list(first.cast),
                           companies=list(first.companies), keywords=list(first.keywords),
                           collection=first.collection, popularity=5.0)
    movies[SAME_DIRECTOR] = Movie(movie_id=SAME_DIRECTOR, title="Quiet Film", year=2013, genres=list(first.genres),
                                  directors=[director_of(25)], cast=["Nobody Else"], popularity=5.0)
    movies[NO_METADATA] = Movie(movie_id=NO_METADATA, title="Unknown Film", year=2013, genres=list(first.genres),
                                popularity=5.0)


def tiny_movies(poster_dir: Path | None = None, metadata: bool = False) -> dict[int, Movie]:
    movies: dict[int, Movie] = {}
    for g, (name, spec) in enumerate(GROUPS.items()):
        for i, overview in enumerate(spec["overviews"]):
            mid = g * 10 + i + 1
            poster = None
            if poster_dir is not None:
                from PIL import Image

                poster_dir.mkdir(parents=True, exist_ok=True)
                poster = str(poster_dir / f"{mid}.jpg")
                Image.new("RGB", (60, 90), COLOURS[name]).save(poster)
            movies[mid] = Movie(
                movie_id=mid, title=f"{name.title()} Film {i + 1}", year=1990 + mid % 25, genres=list(spec["genres"]),
                overview=overview, reviews=[spec["review"], f"{overview} I would watch it again."], poster=poster,
                popularity=float(30 - mid % 10), rating_count=20)
    if metadata:
        _add_metadata(movies)
    return movies


def tiny_ratings(seed: int = 0, metadata: bool = False) -> pd.DataFrame:
    """60 users, 20 per group: each loves 6 movies of its group and dislikes 2 of another, over 2 years. With
    ``metadata``, taste also follows directors and a franchise: 3 fans per director (users 61-87) love every
    film they directed, and 10 fans of heist film 1 (users 88-97) love it and horror films 11-13."""
    rng = np.random.default_rng(seed)
    rows = []
    if metadata:
        directors = sorted({director_of(m) for m in range(1, 31)})
        fans = [(61 + 3 * d + k, [m for m in range(1, 31) if director_of(m) == name])
                for d, name in enumerate(directors) for k in range(3)]
        fans += [(88 + k, [21, 11, 12, 13]) for k in range(10)]
        for user, loved in fans:
            for mid in loved:
                rows.append((user, mid, 5.0, int(1.5e9 + rng.integers(0, 6e7))))
    for user in range(1, 61):
        group = list(GROUPS)[(user - 1) % 3]
        g, d = list(GROUPS).index(group), list(GROUPS).index(DISLIKES[group])
        liked = rng.choice(np.arange(g * 10 + 1, g * 10 + 11), size=6, replace=False)
        disliked = rng.choice(np.arange(d * 10 + 1, d * 10 + 11), size=2, replace=False)
        for mid in liked:
            rows.append((user, int(mid), float(rng.choice([4.5, 5.0])), int(1.5e9 + rng.integers(0, 6e7))))
        for mid in disliked:
            rows.append((user, int(mid), float(rng.choice([1.0, 1.5])), int(1.5e9 + rng.integers(0, 6e7))))
    return pd.DataFrame(rows, columns=["user_id", "movie_id", "rating", "timestamp"])


#: who made the tiny movies, with known answers for every family the query parser reads: a director who also acts
#: once (a person's role comes from the words around the name), a studio with a short name ("Pixel Grove"), two
#: franchises, keywords, two non-English languages and their countries, and runtimes
DIRECTORS = {**{m: "Lena Marsh" for m in (1, 2, 3, 4)}, **{m: "Nora Quill" for m in (11, 12, 13)},
             **{m: "Victor Kade" for m in (21, 22, 23, 24, 25, 26)}}
CAST = {**{m: ["Iris Vale", "Omar Reyes"] for m in (21, 22, 23, 29)}, 27: ["Lena Marsh", "Omar Reyes"],
        **{m: ["Kit Hollis"] for m in (11, 14, 15)}}
COMPANIES = {**{m: ["Pixel Grove Animation Studios"] for m in range(1, 7)},
             **{m: ["Walt Disney Pictures"] for m in range(7, 11)}, **{m: ["Dread House Films"] for m in range(11, 21)},
             **{m: ["Vaultline Pictures"] for m in range(21, 31)}}
COLLECTIONS = {21: "The Vault Job Collection", 22: "The Vault Job Collection", 23: "The Vault Job Collection",
               1: "Toy Box Collection", 2: "Toy Box Collection"}
KEYWORDS = {**{m: ["heist", "double cross"] for m in (21, 23, 25, 27, 29)}, **{m: ["heist"] for m in (22, 24, 26)},
            **{m: ["haunted house", "ghost"] for m in (11, 16, 17)}, **{m: ["friendship"] for m in (1, 3, 6)}}
LANGUAGES = {14: "ja", 15: "ja", 16: "ja", 8: "fr", 9: "fr"}
COUNTRIES = {"ja": ["JP"], "fr": ["FR"], "en": ["US"]}


def runtime_of(movie_id: int) -> int:
    """Every tiny movie's runtime in minutes: 70 to 149."""
    return 70 + movie_id * 37 % 80


def add_credits(movies: dict[int, Movie]) -> dict[int, Movie]:
    """Directors, cast, companies, franchises, keywords, languages, countries and runtimes for the tiny movies."""
    for mid, movie in movies.items():
        movie.directors = [DIRECTORS.get(mid, "Sam Ortiz")]
        movie.cast = list(CAST.get(mid, []))
        movie.companies = list(COMPANIES[mid])
        movie.collection = COLLECTIONS.get(mid)
        movie.keywords = list(KEYWORDS.get(mid, []))
        movie.original_language = LANGUAGES.get(mid, "en")
        movie.countries = list(COUNTRIES[movie.original_language])
        movie.runtime = runtime_of(mid)
    return movies


def tiny_catalog(poster_dir: Path | None = None, metadata: bool = False, credits: bool = False) -> Catalog:
    """The whole tiny catalog; with ``poster_dir``, flat-colour posters are written there; ``metadata``: see the
    module's docstring; ``credits``: the people, studios, franchises, keywords, languages and runtimes above (the
    query parser's known answers)."""
    ratings = tiny_ratings(metadata=metadata)
    movies = tiny_movies(poster_dir, metadata)
    if credits:
        add_credits(movies)
    stats = ratings.groupby("movie_id")["rating"].agg(["count", "mean"])
    for mid, row in stats.iterrows():
        movies[int(mid)].rating_count = int(row["count"])
        movies[int(mid)].rating_mean = float(row["mean"])
    tags = pd.DataFrame(columns=["user_id", "movie_id", "tag", "timestamp"])
    return Catalog(movies=movies, ratings=ratings, tags=tags)


def tiny_payloads(credits: bool = False) -> dict[int, dict[str, Any]]:
    """The tiny catalog's payloads as the index stores them, every review sentence quotable."""
    from index.build import movie_payload
    from recommender.explain.evidence import split_sentences

    out = {}
    for movie in tiny_catalog(credits=credits).movies.values():
        payload = movie_payload(movie, ["overview"])
        payload["review_sentences"] = [s for r in movie.reviews for s in split_sentences(r)]
        payload["review_quotes"] = [{"text": s, "rating": 9.0, "positive": 0.9} for s in payload["review_sentences"]]
        out[movie.movie_id] = payload
    return out


def build_tiny_index(root: Path, catalog: Catalog) -> Settings:
    """A real index of ``catalog`` under ``root`` (MiniLM vectors, Qdrant Edge, trained ranker); its Settings."""
    from encoders.text import load_text_encoder
    from index.build import build_index
    from index.store import open_store
    from recommender.api import train_ranker

    settings = Settings(store=str(root / "index"), cache_dir=str(root / "cache"), cf_factors=128)
    build_index(catalog, settings, load_text_encoder(device="cpu"), None, progress=False)
    with open_store(settings.store) as store:
        train_ranker(catalog.ratings, store, settings)
    return settings
