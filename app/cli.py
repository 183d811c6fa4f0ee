"""The `cinefuse` command line: build, fetch, search, similar (and the ranking and app commands)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from app.data import find_data
from index.config import DEFAULT_HOME, Settings
from index.errors import CatalogError, CinefuseError, InputError, TitleNotFound
from index.store import Filters, Hit

log = logging.getLogger("cinefuse")


def parse_years(text: str | None) -> tuple[int | None, int | None]:
    """``"1995"``, ``"1990-1999"``, ``"1990-"`` or ``"-1999"`` as (min, max).

    Example:
        >>> parse_years("1990-1999")
        (1990, 1999)
    """
    if not text:
        return None, None
    lo, sep, hi = text.partition("-")
    try:
        if not sep:
            return int(lo), int(lo)
        return (int(lo) if lo else None), (int(hi) if hi else None)
    except ValueError:
        raise CinefuseError(f"--year '{text}': use a year (1995) or a range (1990-1999, 1990-, -1999)") from None


def filters_from_args(args: argparse.Namespace) -> Filters:
    year_min, year_max = parse_years(args.year)
    return Filters(genres=list(args.genre or []), exclude_genres=list(args.exclude_genre or []),
                   year_min=year_min, year_max=year_max)


def settings_from_args(args: argparse.Namespace) -> Settings:
    return Settings.load(getattr(args, "config", None), store=args.store, api_key=getattr(args, "api_key", None),
                         collection=getattr(args, "collection", None), artifacts=getattr(args, "artifacts", None),
                         text_model=getattr(args, "text_model", None),
                         image_model=getattr(args, "image_model", None),
                         image_pretrained=getattr(args, "image_pretrained", None),
                         allow_untrained_image_model=getattr(args, "allow_untrained_image_model", None) or None,
                         device=getattr(args, "device", None),
                         skip_bad_rows=getattr(args, "skip_bad_rows", None) or None)


def cmd_build(args: argparse.Namespace) -> int:
    from encoders.base import pick_device
    from encoders.image import load_image_encoder
    from encoders.text import load_text_encoder
    from index.build import check_store_location
    from index.catalog import catalog_from_data_dir
    from recommender.pipeline import build

    settings = settings_from_args(args)
    pick_device(settings.device)  # a device this machine lacks fails now, not after loading the data
    data = find_data(args.data, settings)
    check_store_location(settings, data)  # before minutes of work: never someone else's folder, never locked
    catalog = catalog_from_data_dir(data, skip_bad_rows=settings.skip_bad_rows)
    if not args.no_cf and catalog.ratings.empty:
        raise CatalogError(f"{catalog.sources.get('movielens', data)}: the ratings file holds no ratings (only a "
                           "header?). cinefuse learns its ranker from ratings: add them, or pass --no-cf to build "
                           "an index for search and similar movies only")
    print(catalog.coverage_table(), flush=True)
    text = load_text_encoder(settings.text_model, device=settings.device)
    disabled: dict[str, str] = {}
    image = None
    if args.no_posters:
        disabled["poster"] = "--no-posters"
    else:
        image = load_image_encoder(settings.image_model, settings.image_pretrained,
                                   allow_untrained=settings.allow_untrained_image_model, device=settings.device)
        if image is None and settings.allow_untrained_image_model and settings.image_pretrained is not None:
            log.warning("no weights for %s/%s: using an untrained %s, as --allow-untrained-image-model asks",
                        settings.image_model, settings.image_pretrained, settings.image_model)
            settings = settings.replace(image_pretrained=None)  # saved with the index, so search loads the same
            image = load_image_encoder(settings.image_model, None, allow_untrained=True, device=settings.device)
        if image is None:
            disabled["poster"] = f"no weights for {settings.image_model}/{settings.image_pretrained}"
    report = build(catalog, settings, text, image, train=not args.no_cf, progress=not args.quiet,
                   disabled=disabled, data_dir=data)
    print(report.summary())
    if not args.no_cf:
        from recommender.api import ranker_path

        print(f"  ranker    trained on {len(catalog.ratings):,} ratings, cf vectors written ({ranker_path(settings)})")
    print(catalog.report.summary())
    return 0


def _open(settings: Settings) -> Any:
    from index.store import open_store

    store = open_store(settings.store, api_key=settings.api_key, collection=settings.collection,
                       timeout_s=settings.server_timeout_s)
    if store.schema() is None:
        store.close()
        raise CinefuseError(f"no index at {settings.store}: build one first with "
                            "`cinefuse build --data DIR` (or pass --store)")
    return store


def _encoders_for(store: Any, settings: Settings, need_image: bool) -> tuple[Any, Any]:
    from encoders.image import load_image_encoder
    from encoders.text import load_text_encoder

    built_with = Settings(**{**settings.to_dict(), **store.schema().info.get("settings", {}),
                             "store": settings.store, "api_key": settings.api_key})
    text = load_text_encoder(built_with.text_model, device=settings.device)
    image = None
    if need_image and "poster" in store.schema().vectors:
        image = load_image_encoder(built_with.image_model, built_with.image_pretrained,
                                   allow_untrained=built_with.allow_untrained_image_model, device=settings.device)
    return text, image


def print_hits(hits: Sequence[Hit], as_json: bool, header: str) -> None:
    rows = [{"movie_id": h.id, "title": (h.payload or {}).get("display_title"),
             "genres": (h.payload or {}).get("genres", []), "score": round(h.score, 4)} for h in hits]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    print(header)
    for i, r in enumerate(rows, 1):
        print(f"{i:>3}. {r['title']}  [{', '.join(r['genres'])}]  {r['score']:.3f}")


def cmd_search(args: argparse.Namespace) -> int:
    """``--by fused`` reads the request with the query parser (people, studios, franchises, periods, negations,
    "like X") and says why each movie matched; one signal searches that vector alone with the whole text."""
    from index.match import match_sentence
    from index.query import Vocabulary
    from index.search import search_request, search_text, sparse_encoder_for

    settings = settings_from_args(args)
    with _open(settings) as store:
        text, image = _encoders_for(store, settings, need_image=args.by in ("fused", "poster"))
        if args.by != "fused":
            hits = search_text(args.text, store, text, image, by=args.by, filters=filters_from_args(args),
                               limit=args.limit)
            print_hits(hits, args.json, f'movies matching "{args.text}" by {args.by}:')
            return 0
        result = search_request(args.text, store, text, Vocabulary.from_payloads(store.payloads()),
                                sparse=sparse_encoder_for(store), image_encoder=image,
                                filters=filters_from_args(args), limit=args.limit)
    why = {h.id: match_sentence(result.matches.get(h.id, {})) for h in result.hits}
    if args.json:  # the notes ("Only 9 movies here...") go to stderr, so stdout stays a list of movies
        for note in result.notes:
            print(note, file=sys.stderr)
        print(json.dumps([{"movie_id": h.id, "title": (h.payload or {}).get("display_title"),
                           "genres": (h.payload or {}).get("genres", []), "score": round(h.score, 4),
                           "match": result.matches.get(h.id, {}), "why": why[h.id]} for h in result.hits],
                         indent=2))
        return 0
    understood = result.query.describe()
    print(f'movies matching "{args.text}"' + (f" ({understood})" if understood else "") + ":")
    for note in result.notes:
        print(f"  {note}")
    for i, h in enumerate(result.hits, 1):
        payload = h.payload or {}
        print(f"{i:>3}. {payload.get('display_title')}  [{', '.join(payload.get('genres', []))}]"
              + (f"  {why[h.id]}" if why[h.id] else ""))
    return 0


def cmd_similar(args: argparse.Namespace) -> int:
    from index.search import similar_movies
    from index.titles import TitleIndex

    settings = settings_from_args(args)
    with _open(settings) as store:
        movie_id = TitleIndex(store.payloads()).resolve(args.title)
        title = store.payloads([movie_id])[movie_id]["display_title"]
        hits = similar_movies(movie_id, store, by=args.by, filters=filters_from_args(args), limit=args.limit)
    print_hits(hits, args.json, f"movies like {title} by {args.by}:")
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    from recommender.api import Recommender

    settings = settings_from_args(args)
    history: dict[str | int, float | bool] = {t: True for t in args.like or []}
    history.update({t: False for t in args.dislike or []})
    for given in args.rate or []:
        title, sep, stars = given.rpartition("=")
        try:
            history[title] = float(stars)
        except ValueError:
            history[title] = stars  # the API names the title and what a rating must be
        if not sep or not title.strip():
            raise InputError(f"--rate {given!r}: write TITLE=STARS, e.g. --rate 'Heat (1995)=4.5'")
    with Recommender.open(settings.store, settings=settings) as rec:
        recs = rec.recommend(history or None, user_id=args.user, k=args.limit, filters=filters_from_args(args),
                             diversity=args.diversity, explore=not args.no_explore, explain=args.explain,
                             steer=args.steer)
    if args.json:
        print(json.dumps([{"movie_id": r.movie_id, "title": r.title, "genres": r.genres, "score": round(r.score, 4),
                           "reason": r.reason, "contributions": r.contributions, "explanation": r.explanation}
                          for r in recs], indent=2))
        return 0
    print("recommended for you:")
    for i, r in enumerate(recs, 1):
        tag = "  (exploration pick)" if r.reason == "exploration" else ""
        print(f"{i:>3}. {r.title}  [{', '.join(r.genres)}]  {r.score:.3f}{tag}")
        if r.explanation:
            print(f"      {r.explanation}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import os
    import signal

    from app.session import ChatService
    from app.sessions import open_sessions
    from app.ui import launch, parse_auth
    from recommender.api import Recommender

    auth = parse_auth(args.auth or os.environ.get("CINEFUSE_AUTH"))
    settings = settings_from_args(args)
    started = time.perf_counter()
    print(f"cinefuse: opening {settings.store} and loading its models before the first visitor comes...", flush=True)
    rec = Recommender.open(settings.store, settings=settings)
    service = ChatService(rec, page_size=args.page_size, explainer=args.explainer,
                          sessions=open_sessions(settings, rec.store))
    where = f"http://{args.host}:{args.port}"
    print(f"cinefuse: ready in {time.perf_counter() - started:.1f}s; serving {settings.store} at {where} "
          f"(explanations: {service.explainer_name}, sessions: {settings.sessions}"
          f"{', password required' if auth else ''}); Ctrl+C stops",
          flush=True)
    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # `kill` stops it as cleanly as Ctrl+C
    try:
        launch(service, host=args.host, port=args.port, auth=auth, eval_root=args.eval_dir,
               concurrency=args.concurrency)
    except KeyboardInterrupt:
        pass
    finally:
        rec.close()
        written = ", ".join(f"{n} by {name}" for name, n in sorted(service.stats.items())) or "none"
        print(f"cinefuse: stopped; explanations written: {written}", flush=True)
    return 0


def _at_least_one(text: str) -> int:
    """An argparse type: a whole number of 1 or more."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, got {text!r}")
    return value


def cmd_evaluate(args: argparse.Namespace) -> int:
    from index.catalog import find_movielens_dir
    from index.sources import load_movielens
    from recommender.evaluation.experiments import (
        cold_start_recall,
        evaluate_new_people,
        evaluate_protocol,
        write_report,
    )
    from recommender.ranking.fusion import ItemTable

    settings = settings_from_args(args)
    store = _open(settings)
    try:
        items = ItemTable.from_store(store)
    finally:
        store.close()  # the evaluation takes minutes; do not hold the index's lock meanwhile
    movielens = find_movielens_dir(find_data(args.data, settings))
    data = load_movielens(movielens)
    ratings = data.ratings
    out = Path(args.out)
    tags = data.tags  # each experiment keeps only the tags its training data could have
    results: dict[str, Any] = {}
    text = ""
    for protocol in args.protocol:  # each protocol's results are written as soon as it finishes
        if protocol == "C":
            results[protocol] = evaluate_new_people(ratings, items, tags=tags, only=args.models,
                                                    folds=args.new_people_folds)
        else:
            results[protocol] = evaluate_protocol(ratings, items, protocol, only=args.models, tags=tags)
        text = write_report(results, None, out, movielens.name)
    if not args.no_cold:
        cold = cold_start_recall(ratings, items, tags=tags, only=args.models)
        text = write_report(results, cold, out, movielens.name)
    print((out / "results.json").read_text() if args.json else text)
    print(f"charts and results in {out}", file=sys.stderr)
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    from index import fetch

    dest = Path(args.dest).expanduser()
    if args.what == "movielens":
        from index.config import Settings

        print(fetch.fetch_movielens(args.release, dest, base_url=Settings.load().movielens_url))
    elif args.what == "tmdb":
        from index.sources import load_movielens

        links = load_movielens(args.movielens).links
        ids = [int(i) for i in links["tmdb_id"].dropna()]
        print(fetch.fetch_tmdb(ids, dest / "tmdb_api_movies.jsonl.gz"))
    elif args.what == "metadata":
        for path in fetch.fetch_metadata(args.sets or list(fetch.METADATA_DOWNLOADS), dest):
            print(path)
    else:
        from index.sources import load_movielens, load_tmdb_jsonl

        if not (args.tmdb and args.movielens):
            raise CinefuseError("fetch posters needs --tmdb FILE (poster paths) and --movielens DIR (links.csv), "
                                "so posters are saved as <movieId>.jpg")
        records = load_tmdb_jsonl(args.tmdb)
        links = load_movielens(args.movielens).links.dropna(subset=["tmdb_id"])
        pairs = zip(links["movie_id"], links["tmdb_id"], strict=True)
        paths = {int(mid): str(records[int(tid)].poster_path) for mid, tid in pairs
                 if int(tid) in records and records[int(tid)].poster_path}
        print(f"{len(fetch.fetch_posters(paths, dest / 'images'))} posters in {dest / 'images'}")
    return 0


def _add_store_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", help="index location: a folder (Qdrant Edge) or a Qdrant server URL "
                   "[env CINEFUSE_STORE, default ~/.cinefuse/index]")
    p.add_argument("--api-key", help="Qdrant server API key [env CINEFUSE_API_KEY]")
    p.add_argument("--collection", help="collection name on a Qdrant server (default movies)")
    p.add_argument("--artifacts", help="for a Qdrant server: the folder holding the index's ranker and explainer, "
                   "shared by every serving machine [env CINEFUSE_ARTIFACTS]")
    p.add_argument("--config", help="a TOML file of settings")
    p.add_argument("--device", help="auto, cpu, cuda or mps")


def _add_query_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--by", default="fused", choices=["overview", "reviews", "poster", "cf", "fused"])
    p.add_argument("--genre", action="append", help="keep movies of this genre (repeatable: any of them)")
    p.add_argument("--exclude-genre", action="append", help="drop movies of this genre (repeatable)")
    p.add_argument("--year", help="a year (1995) or a range (1990-1999, 1990-, -1999)")
    p.add_argument("--limit", type=count_arg, default=10, help="how many results (1-1000)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a list")


def count_arg(text: str) -> int:
    """An argparse type: a whole number from 1 to 1000.

    Example:
        >>> count_arg("5")
        5
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; give 1 to 1000") from None
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"{value} is out of range; give 1 to 1000")
    return value


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line naming the argument, exit code 2 (argparse's own prints the whole usage)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="cinefuse", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="ingest a catalog and build the multimodal index")
    _add_store_args(b)
    b.add_argument("--data", help="a local data folder (offline); without it MovieLens is fetched")
    b.add_argument("--skip-bad-rows", action="store_true", help="skip malformed rows and report counts")
    b.add_argument("--text-model", help="sentence-transformers name or path (default: packaged all-MiniLM-L6-v2)")
    b.add_argument("--image-model", help="open_clip architecture (default ViT-B-32)")
    b.add_argument("--image-pretrained", help="open_clip pretrained tag or a local checkpoint file")
    b.add_argument("--allow-untrained-image-model", action="store_true",
                   help="use an untrained CLIP when no weights can be had (tests and demos only)")
    b.add_argument("--no-posters", action="store_true", help="skip the poster signal")
    b.add_argument("--no-cf", action="store_true", help="skip the collaborative vectors and the ranker")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    b.set_defaults(func=cmd_build)

    s = sub.add_parser("search", help="movies matching a description (overview, reviews, posters)")
    s.add_argument("text")
    _add_store_args(s)
    _add_query_args(s)
    s.set_defaults(func=cmd_search)

    m = sub.add_parser("similar", help="movies like a title, per signal or fused")
    m.add_argument("title")
    _add_store_args(m)
    _add_query_args(m)
    m.set_defaults(func=cmd_similar)

    r = sub.add_parser("recommend", help="top movies for a history (likes, dislikes, ratings) or a MovieLens user")
    _add_store_args(r)
    _add_query_args(r)
    r.add_argument("--like", action="append", help="a title you liked (repeatable)")
    r.add_argument("--dislike", action="append", help="a title you disliked (repeatable)")
    r.add_argument("--rate", action="append", help='"Title=4.5" (repeatable)')
    r.add_argument("--user", type=int, help="a MovieLens userId from the ratings the index was built with")
    r.add_argument("--diversity", type=float, help="MMR lambda in (0, 1]: lower is more diverse")
    r.add_argument("--no-explore", action="store_true", help="no exploration slot")
    r.add_argument("--explain", action="store_true", help="add a 'because you liked...' sentence to each")
    r.add_argument("--steer", help='what to lean towards, in words: "darker", "but newer", "from the 90s", '
                                   '"no horror" (as in the chat)')
    r.set_defaults(func=cmd_recommend)

    e = sub.add_parser("evaluate", help="baselines, single signals and the fusion side by side (protocols A, B, C)")
    _add_store_args(e)
    e.add_argument("--data", help="the data folder whose MovieLens ratings to evaluate on")
    e.add_argument("--protocol", nargs="+", default=["A", "B", "C"], choices=["A", "B", "C"],
                   help="A: latest 20%% per person; B: random 25%% per person; C: new people (20%% held out, shown "
                        "1, 3, 5 and 10 liked movies)")
    e.add_argument("--new-people-folds", type=_at_least_one, default=5, metavar="K",
                   help="protocol C on K disjoint 20%% hold-outs, people pooled (default 5: everyone held out once; "
                        "1: one hold-out, five times faster)")
    e.add_argument("--models", nargs="*", help="only these rows (names as in the report)")
    e.add_argument("--no-cold", action="store_true", help="skip the cold-start items experiment")
    e.add_argument("--out", default="runs/eval", help="folder for report.md, results.json and PNG charts")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_evaluate)

    v = sub.add_parser("serve", help="the Gradio chat app (on 127.0.0.1 unless --host says otherwise)")
    _add_store_args(v)
    v.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0 exposes it to the network)")
    v.add_argument("--port", type=int, default=7860)
    v.add_argument("--auth", help="USER:PASSWORD required to open the app [env CINEFUSE_AUTH]")
    v.add_argument("--explainer", default="auto", choices=["auto", "model", "template"],
                   help="auto and template: slot-filled templates (they win the truth audit, see README); model: "
                        "SmolLM2 rewording them, behind this flag")
    v.add_argument("--eval-dir", default="runs", help="where `cinefuse evaluate` wrote its reports (newest shown)")
    v.add_argument("--page-size", type=int, default=8)
    v.add_argument("--concurrency", type=int, default=16,
                   help="requests handled at once (a page streaming explanations holds one while it waits)")
    v.set_defaults(func=cmd_serve)

    from app.cli_explain import register

    register(sub)

    f = sub.add_parser("fetch", help="download MovieLens, TMDB metadata (needs TMDB_API_KEY) or posters")
    f.add_argument("what", choices=["movielens", "tmdb", "metadata", "posters"])
    f.add_argument("--sets", nargs="*", help="for metadata: tmdb-5000, movies-dataset, imdb-5000, tmdb-movie-data "
                   "(default all)")
    f.add_argument("--release", default="ml-latest-small")
    f.add_argument("--dest", default=str(DEFAULT_HOME / "data"))
    f.add_argument("--movielens", help="for tmdb: the MovieLens folder whose links.csv lists the ids")
    f.add_argument("--tmdb", help="for posters: the TMDB JSON-lines file with poster paths")
    f.set_defaults(func=cmd_fetch)
    return parser


class _DropThirdPartyRootRecords(logging.Filter):
    # open_clip logs on the root logger (an ERROR for a failed download that our own warning already explains)
    def filter(self, record: logging.LogRecord) -> bool:
        return record.name != "root" or record.levelno >= logging.CRITICAL


def configure_logging(verbose: bool = False) -> None:
    """INFO from cinefuse's packages (DEBUG with -v), warnings from everything else."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_DropThirdPartyRootRecords())
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    for name in ("encoders", "index", "recommender", "app", "cinefuse"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Example:
        >>> main(["--help"])  # doctest: +SKIP
    """
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except TitleNotFound as exc:
        print(f"cinefuse: {exc}", file=sys.stderr)
        return 3
    except CinefuseError as exc:
        print(f"cinefuse: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
