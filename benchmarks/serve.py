"""Concurrent chat sessions against `cinefuse serve` through gradio_client, side by side with the same
conversations run one at a time through the Python API (ChatService, no HTTP).

Each session has its own likes; after every turn the benchmark checks that the profile the app returns is exactly
that session's, so a leak between sessions fails the run. Prints p50/p95 response time per kind of turn.

    python benchmarks/serve.py --store runs/index --sessions 20 [--explainer auto|model|template]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Pairs of well-known movies; session i likes pair i (so every profile is different) and dislikes the next one's
# first title.
PAIRS = [("Heat", "Alien"), ("Toy Story", "Up"), ("The Matrix", "Inception"), ("Goodfellas", "Casino"),
         ("Fargo", "Se7en"), ("Amelie", "Big Fish"), ("Jurassic Park", "Jaws"), ("The Lion King", "Aladdin"),
         ("Pulp Fiction", "Reservoir Dogs"), ("Fight Club", "Memento"), ("Titanic", "The Notebook"),
         ("Die Hard", "Speed"), ("Finding Nemo", "Monsters, Inc."), ("The Shining", "Psycho"),
         ("Gladiator", "Braveheart"), ("Forrest Gump", "Big"), ("The Godfather", "Scarface"),
         ("Shrek", "Madagascar"), ("Blade Runner", "Brazil"), ("Clueless", "Mean Girls"),
         ("Ghostbusters", "Groundhog Day"), ("Rocky", "Raging Bull"), ("Aliens", "Predator"),
         ("Notting Hill", "Love Actually")]


def conversation(i: int) -> list[tuple[str, Any]]:
    liked = PAIRS[i % len(PAIRS)]
    disliked = PAIRS[(i + 1) % len(PAIRS)][0]
    return [("chat", f"I loved {liked[0]} and {liked[1]}, hated {disliked}"), ("chat", "no horror"),
            ("thumbs_up", 1), ("chat", "why the second?")]


def expected_profile(i: int, titles: dict[str, str], thumbed: list[str]) -> dict[str, Any]:
    liked = PAIRS[i % len(PAIRS)]
    return {"liked": [titles[liked[0]], titles[liked[1]], *thumbed],
            "disliked": [titles[PAIRS[(i + 1) % len(PAIRS)][0]]]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(store: Path, port: int, explainer: str, log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "app.cli", "serve", "--store", str(store), "--port", str(port), "--explainer",
           explainer, "--eval-dir", str(ROOT / "runs")]
    with open(log, "wb") as out:  # a file, not a pipe: a full pipe would stall the server
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "HF_HUB_OFFLINE": "1"})
    import requests

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {log.read_text()[-2000:]}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/config", timeout=2).ok:
                return proc
        except requests.RequestException:
            pass
        time.sleep(1)
    proc.kill()
    raise SystemExit("server did not start in 300 s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), for the server's own share of the work."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_http(url: str, sessions: int, titles: dict[str, str]) -> tuple[dict[str, list[float]], list[str]]:
    from gradio_client import Client

    from app.ui import card_titles

    times: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(sessions)

    def one(i: int) -> None:
        try:
            t0 = time.perf_counter()
            client = Client(url, verbose=False, download_files=False)  # the app's time, not the client's copying
            with lock:
                times["connect"].append(time.perf_counter() - t0)
            start.wait()
            messages: list[Any] = []
            thumbed: list[str] = []
            page: list[Any] = []
            for kind, arg in conversation(i):
                t0 = time.perf_counter()
                endpoint = "/chat" if kind == "chat" else "/thumbs_up"
                job = client.submit(arg, messages, api_name=endpoint)
                first = None
                while not job.done():
                    if first is None and job.outputs():
                        first = time.perf_counter() - t0
                    time.sleep(0.05)
                messages, picks, listing, profile, _ = job.result()
                elapsed = time.perf_counter() - t0
                if kind == "thumbs_up":
                    thumbed.append(page[int(arg) - 1])
                listing = listing if isinstance(listing, str) else ""  # a kept page comes back as an update
                page = card_titles(listing) or page
                want = expected_profile(i, titles, thumbed)
                got = {"liked": profile["liked"], "disliked": profile["disliked"]}
                if got != want:
                    raise AssertionError(f"session {i} after {kind} {arg!r}: profile {got} != {want}")
                why = str(arg).startswith("why")
                if (why and "Why" not in str(messages[-1])) or (not why and not isinstance(picks, list | tuple)):
                    raise AssertionError(f"session {i}: no answer to {arg!r}")
                with lock:
                    times[f"{kind} ({'why' if why else 'page'})"].append(elapsed)
                    times["any turn"].append(elapsed)
                    if not why:
                        times["first gallery (page turns)"].append(elapsed if first is None else first)
        except Exception as err:  # noqa: BLE001 - counted and printed
            with lock:
                errors.append(f"session {i}: {type(err).__name__}: {err}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return times, errors


def run_api(store: Path, sessions: int, explainer: str) -> dict[str, list[float]]:
    from app.session import ChatService, Session
    from recommender.api import Recommender

    times: dict[str, list[float]] = defaultdict(list)
    with Recommender.open(store) as rec:
        svc = ChatService(rec, explainer=explainer)  # type: ignore[arg-type]
        for i in range(sessions):
            s = Session()
            for kind, arg in conversation(i):
                t0 = time.perf_counter()
                reply = svc.respond(s, arg) if kind == "chat" else svc.feedback(s, int(arg), True)
                first = time.perf_counter() - t0
                for _ in svc.explanations(s, reply.explain):
                    pass
                elapsed = time.perf_counter() - t0
                why = str(arg).startswith("why")
                times[f"{kind} ({'why' if why else 'page'})"].append(elapsed)
                times["any turn"].append(elapsed)
                if not why:
                    times["first gallery (page turns)"].append(first)
    return times


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95, method="nearest"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="runs/index")
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--explainer", default="auto", choices=["auto", "model", "template"])
    args = parser.parse_args()

    from index.titles import TitleIndex
    from recommender.api import Recommender

    # the server holds the store's lock, so it serves a private copy
    work = Path(tempfile.mkdtemp(prefix="cinefuse-serve-"))
    store = work / "index"
    shutil.copytree(args.store, store)
    with Recommender.open(store) as rec:
        index = TitleIndex(rec.payloads)
        titles = {}
        for t in {t for pair in PAIRS for t in pair}:  # resolved the way the chat resolves them
            ids = index.exact(t) or [index.resolve(t)]
            best = max(ids, key=lambda m: rec.payloads[m].get("rating_count") or 0)
            titles[t] = rec.payloads[best]["display_title"]

    port = free_port()
    t0 = time.perf_counter()
    log = work / "server.log"
    server = start_server(store, port, args.explainer, log)
    started = time.perf_counter() - t0
    cpu_at_start = cpu_seconds(server.pid)
    try:
        wall = time.perf_counter()
        http, errors = run_http(f"http://127.0.0.1:{port}/", args.sessions, titles)
        wall = time.perf_counter() - wall
    finally:
        cpu = cpu_seconds(server.pid) - cpu_at_start
        server.terminate()  # a clean stop prints how the explanations were written
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
    written = [line for line in log.read_text().splitlines() if "explanations written" in line]
    api = run_api(store, args.sessions, args.explainer)
    shutil.rmtree(work, ignore_errors=True)

    turns = sum(len(conversation(i)) for i in range(args.sessions))
    print(f"\n{args.sessions} concurrent sessions x {turns // args.sessions} turns, explainer={args.explainer}, "
          f"server start {started:.1f} s, wall {wall:.1f} s, {os.cpu_count()} cores")
    print(f"server CPU: {cpu:.1f} s in all, {cpu / max(1, len(http['any turn'])):.3f} s per turn "
          f"(the rest of the wall time is the {args.sessions} clients sharing the same cores)")
    print(f"answered: {len(http['any turn'])}/{turns} turns; sessions with errors: {len(errors)}; "
          "profile leaks: " + ("none" if not errors else "see errors"))
    for e in errors[:10]:
        print("  " + e)
    print(written[-1].split("; ", 1)[-1] if written else "explanations written: (server gave no summary)")
    print(f"\n| turn | n | {args.sessions} sessions via gradio_client p50 | p95 "
          "| Python API, one at a time p50 | p95 |")
    print("|---|---|---|---|---|---|")
    for kind in sorted(http, key=lambda k: (k == "any turn", k)):
        h, a = http[kind], api.get(kind, [])
        api_cols = f"{statistics.median(a):.2f} s | {p95(a):.2f} s" if a else "- | -"
        print(f"| {kind} | {len(h)} | {statistics.median(h):.2f} s | {p95(h):.2f} s | {api_cols} |")
    if errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
