"""Teach SmolLM2 to explain recommendations: a corpus from real ratings and reviews, LoRA training, metrics.

The corpus pairs :func:`~recommender.explain.lm.prompt_for` (evidence in) with a reference sentence (out) for
real users' liked movies. References are written from the same evidence and its real review sentences, with
varied wording, and each one passes the checker, so the model is only ever taught true sentences. Held-out
movies (a stable hash of the movie id) never appear in training.

Metrics are pure functions: :func:`bleu4` (corpus BLEU-4, Lin & Och add-one smoothing for 2- to 4-grams),
:func:`rouge_l` (mean best LCS F1), :func:`unique_sentence_ratio`, :func:`feature_matching_ratio` and
:func:`hallucination_rate`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from recommender.explain.checker import CLAIM_PROBLEMS, Vocabulary, check_explanation, evidence_items_mentioned
from recommender.explain.evidence import (
    Evidence,
    build_evidence,
    co_like_counts,
    loved_matrix,
    split_sentences,
)
from recommender.explain.lm import Explainer, chat_messages, load_base_model
from recommender.explain.templates import FRAMES, plan_card, realise

log = logging.getLogger(__name__)

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
MAX_REFERENCE_CHARS = 170

# Reference-only phrasings, on top of the templates', so the model learns varied wording
EXTRA_LEADS: dict[str, tuple[str, ...]] = {
    "overview": ("Since {a} was a hit with you, expect a story along the same lines.",
                 "You rated {a} highly, and this one tells a similar story.",
                 "Its premise is close to that of {a}, one of your favourites."),
    "reviews": ("Reviewers praise it in much the same words as {a}, which you loved.",
                "Since you loved {a}, you may like how reviewers describe this one."),
    "poster": ("It has the look of {a}, a film you loved.",),
    "cf": ("Fans of {a}, like you, tend to love this one too.",
           "People with your taste for {a} rate this one highly."),
    "metadata": ("You loved {a}, and this one has a lot in common with it.",
                 "Because {a} was a favourite of yours, this one is worth a look."),
}
GENRE_LEADS = ("Because you loved {a}, here is another {g} film.",
               "If {a} was your kind of film, this {g} pick is too.",
               "You enjoyed {a}, and this is another {g} film to try.")
EXTRA_QUOTES = ('In the words of one review: "{q}"', 'One viewer wrote: "{q}"')
EXTRA_CO_LIKES = ("{n} fans of {t} loved it as well.",)


# --------------------------------------------------------------------------------------------------------------
# Corpus
# --------------------------------------------------------------------------------------------------------------


def catalog_payloads(catalog: Any, max_review_sentences: int = 40) -> dict[int, dict[str, Any]]:
    """Each catalog movie's payload (``index.build.movie_payload``) plus ``review_sentences``: its reviews split
    into sentences (at most ``max_review_sentences``, round-robin over reviews so no one review dominates).

    Example:
        >>> from index.movie import Movie
        >>> class C: movies = {1: Movie(1, "Heat", 1995, reviews=["Wow. Best shootout ever filmed."])}
        >>> catalog_payloads(C())[1]["review_sentences"]
        ['Wow.', 'Best shootout ever filmed.']
    """
    from index.build import catalog_quotes, movie_payload

    quotes = catalog_quotes(catalog)
    out: dict[int, dict[str, Any]] = {}
    for movie in catalog.movies.values():
        payload = movie_payload(movie, [], quotes.get(movie.movie_id, ()))
        per_review = [split_sentences(r) for r in movie.reviews]
        sentences: list[str] = []
        for i in range(max((len(s) for s in per_review), default=0)):
            sentences += [s[i] for s in per_review if i < len(s)]
        payload["review_sentences"] = sentences[:max_review_sentences]
        out[movie.movie_id] = payload
    return out


def write_reference(evidence: Evidence, rng: np.random.Generator) -> str:
    """A reference explanation: the template realisation of the evidence (:mod:`recommender.explain.templates`) with its
    frames drawn at random, so every target is true by construction and the wording varies.

    Example:
        >>> from recommender.explain.evidence import Anchor
        >>> e = Evidence(movie_id=9, title="Ronin (1998)", history_titles={6: "Heat (1995)"},
        ...              anchors=[Anchor(6, "Heat (1995)", 1.0, {"overview": 0.8}, 0.8, "overview")])
        >>> "Heat (1995)" in write_reference(e, np.random.default_rng(0))
        True
    """
    used: Counter[str] = Counter({kind: int(rng.integers(3)) for kind in FRAMES})
    return realise(plan_card(evidence, used), int(rng.integers(1 << 30)), Counter())


def is_heldout(movie_id: int, fraction: float) -> bool:
    """Whether a movie belongs to the held-out split (a stable hash, the same on every machine).

    Example:
        >>> [is_heldout(m, 0.5) for m in (1, 2, 3)]
        [False, True, False]
    """
    return zlib.crc32(f"movie-{movie_id}".encode()) % 1000 < fraction * 1000


def vectors_from_store(store: Any, ids: Sequence[int], names: Sequence[str] = ("overview", "reviews", "poster", "cf"),
                       batch_size: int = 512) -> dict[int, dict[str, np.ndarray]]:
    """Each movie's vectors (by signal) from an open vector store, for the signals its schema has.

    Example:
        >>> from index.store import open_store  # doctest: +SKIP
        >>> vectors = vectors_from_store(open_store("runs/index"), [1, 2])  # doctest: +SKIP
        >>> sorted(vectors[1])  # doctest: +SKIP
        ['cf', 'overview', 'reviews']
    """
    schema = store.schema()
    present = [n for n in names if schema is not None and n in schema.vectors]
    out: dict[int, dict[str, np.ndarray]] = {}
    if not present:
        return out
    ids = list(ids)
    for start in range(0, len(ids), batch_size):
        for mid, vecs in store.vectors(ids[start:start + batch_size], present).items():
            kept = {n: np.asarray(v, dtype=np.float32) for n, v in vecs.items() if v is not None and np.any(v)}
            if kept:
                out[int(mid)] = kept
    return out


def build_corpus(payloads: Mapping[int, Mapping[str, Any]], ratings: pd.DataFrame, *,
                 vectors: Mapping[int, Mapping[str, np.ndarray]] | None = None,
                 vocabulary: Vocabulary | None = None, users: int = 400, per_user: int = 3,
                 history_size: int = 12, heldout_fraction: float = 0.15, references: int = 3, seed: int = 0,
                 min_rating: float = 4.0) -> list[dict[str, Any]]:
    """Explanation examples from real ratings: for sampled users, a liked movie with something to cite (review
    sentences, keywords, cast or directors) is the "recommendation" and a sample of their other ratings the
    history (weight (rating - 3) / 2, so dislikes push). Evidence uses ``vectors`` (movieId -> signal -> vector)
    where given, else the overlap of genres, keywords and people; co-like counts come from the other users'
    ratings >= ``min_rating``. Each example holds the evidence, the prompt, ``references`` reference sentences
    (the first is the training target) that pass the checker, and its split (``train`` or ``heldout``, by
    movie).

    Example:
        >>> from tests.tiny_catalog import tiny_catalog  # doctest: +SKIP
        >>> corpus = build_corpus(catalog_payloads(tiny_catalog()), tiny_catalog().ratings, users=10)  # doctest: +SKIP
        >>> sorted(corpus[0])  # doctest: +SKIP
        ['evidence', 'movie_id', 'prompt', 'reference', 'references', 'split', 'user_id']
    """
    from recommender.explain.lm import prompt_for

    rng = np.random.default_rng(seed)
    vocabulary = vocabulary or Vocabulary.from_payloads(payloads.values())
    loved, item_index = loved_matrix(ratings, min_rating)
    ratings = ratings[ratings["movie_id"].isin(list(payloads))]
    by_user = {int(u): frame for u, frame in ratings.groupby("user_id")}
    user_ids = sorted(by_user)
    chosen = rng.choice(user_ids, size=min(users, len(user_ids)), replace=False)
    explainable = {mid for mid, p in payloads.items()
                   if p.get("review_sentences") or p.get("keywords") or p.get("cast") or p.get("directors")}
    corpus: list[dict[str, Any]] = []
    rejected = 0
    for user in sorted(int(u) for u in chosen):
        frame = by_user[user]
        rated = dict(zip(frame["movie_id"].astype(int), frame["rating"].astype(float), strict=True))
        candidates = [m for m, r in rated.items() if r >= min_rating and m in explainable]
        if len(rated) < 4 or not candidates:
            continue
        for candidate in rng.permutation(candidates)[:per_user]:
            candidate = int(candidate)
            others = [m for m, r in rated.items() if m != candidate and r != 3.0]
            if not others:
                continue
            sample = rng.permutation(others)[:history_size]
            history = [(payloads[int(m)], float(np.clip((rated[int(m)] - 3.0) / 2.0, -1.0, 1.0)))
                       for m in sample]
            liked_ids = [int(p["movie_id"]) for p, w in history if w > 0]
            counts = co_like_counts(loved, item_index, liked_ids, candidate)
            counts = {m: c - 1 for m, c in counts.items() if c > 1}  # this user is one of them: leave them out
            own = vectors.get(candidate, {}) if vectors else {}
            evidence = build_evidence(payloads[candidate], history, own, vectors or {}, co_likes=counts)
            if not evidence.anchors:
                continue
            texts: list[str] = []
            for _ in range(references * 3):
                text = write_reference(evidence, rng)
                if text not in texts and not check_explanation(text, evidence, vocabulary):
                    texts.append(text)
                elif text not in texts:
                    rejected += 1
                if len(texts) == references:
                    break
            if not texts:
                continue
            corpus.append({"user_id": user, "movie_id": candidate, "evidence": evidence.to_dict(),
                           "prompt": prompt_for(evidence), "reference": texts[0], "references": texts,
                           "split": "heldout" if is_heldout(candidate, heldout_fraction) else "train"})
    if rejected:
        log.info("%d reference drafts failed the checker and were dropped", rejected)
    log.info("explanation corpus: %d examples (%d held out) from %d users", len(corpus),
             sum(e["split"] == "heldout" for e in corpus), len(chosen))
    return corpus


def save_corpus(corpus: Iterable[Mapping[str, Any]], path: str | os.PathLike[str]) -> None:
    """Write a corpus as JSON lines.

    Example:
        >>> save_corpus([], "/tmp/empty.jsonl")
    """
    with open(path, "w", encoding="utf-8") as fh:
        for example in corpus:
            fh.write(json.dumps(example, ensure_ascii=False) + "\n")


def load_corpus(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a corpus written by :func:`save_corpus`.

    Example:
        >>> save_corpus([{"split": "train"}], "/tmp/one.jsonl"); load_corpus("/tmp/one.jsonl")
        [{'split': 'train'}]
    """
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


# --------------------------------------------------------------------------------------------------------------
# LoRA training
# --------------------------------------------------------------------------------------------------------------


@dataclass
class TrainReport:
    """What :func:`train_lora` did: steps, time, examples and the loss curve (one value per step).

    Example:
        >>> TrainReport(steps=2, seconds=4.0, examples=10, losses=[2.0, 1.5]).summary()
        'LoRA: 2 steps on 10 examples in 4.0s (2.00 s/step), loss 2.000 -> 1.750 (mean of the last 5 steps)'
    """

    steps: int
    seconds: float
    examples: int
    losses: list[float] = field(default_factory=list)
    rank: int = 8
    learning_rate: float = 1e-3
    batch_size: int = 8
    out_dir: str = ""
    top_layers: int | None = None

    @property
    def seconds_per_step(self) -> float:
        """Mean wall-clock seconds per training step."""
        return self.seconds / self.steps if self.steps else 0.0

    def summary(self) -> str:
        """One line: steps, examples, time, and the loss at the start and end."""
        first, last = (self.losses[0], float(np.mean(self.losses[-5:]))) if self.losses else (math.nan, math.nan)
        return (f"LoRA: {self.steps} steps on {self.examples} examples in {self.seconds:.1f}s "
                f"({self.seconds_per_step:.2f} s/step), loss {first:.3f} -> {last:.3f} (mean of the last 5 steps)")


def _training_pairs(examples: Sequence[Mapping[str, Any]], tokenizer: Any,
                    max_tokens: int) -> list[tuple[list[int], int]]:
    pairs = []
    for example in examples:
        evidence = Evidence.from_dict(example["evidence"])
        prompt = tokenizer.apply_chat_template(chat_messages(evidence), tokenize=False, add_generation_prompt=True)
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        answer_ids = tokenizer(example["reference"] + "<|im_end|>", add_special_tokens=False)["input_ids"]
        ids = (prompt_ids + answer_ids)[:max_tokens]
        pairs.append((ids, len(prompt_ids)))
    return pairs


def train_lora(corpus: Sequence[Mapping[str, Any]], out_dir: str | os.PathLike[str], steps: int, rank: int = 8, *,
               alpha: int | None = None, learning_rate: float = 1e-3, batch_size: int = 8, seed: int = 0,
               cache_dir: str | os.PathLike[str] | None = None, target_modules: Sequence[str] = LORA_TARGETS,
               max_tokens: int = 256, top_layers: int | None = 15, vocabulary: Vocabulary | None = None,
               progress: bool = True, model_and_tokenizer: tuple[Any, Any] | None = None) -> TrainReport:
    """Fine-tune a LoRA adapter on the corpus's ``train`` examples and save it (with ``vocabulary.json`` when a
    vocabulary is given, and ``training.json``) in ``out_dir``. The loss is next-token cross-entropy on the
    reference only (the prompt is context); AdamW with a linear warm-up over the first 10% of steps, then
    linear decay. The adapter goes on the ``top_layers`` last decoder layers only (None: all), so the backward
    pass stops half-way: about a third less compute per step on CPU. ``model_and_tokenizer`` reuses a loaded
    base model (it is modified in place).

    Example:
        >>> report = train_lora(corpus, "runs/index/explainer", steps=200)  # doctest: +SKIP
        >>> report.summary()  # doctest: +SKIP
        'LoRA: 200 steps on 1,180 examples in 900.1s (4.50 s/step), loss 2.914 -> 0.402'
    """
    import torch
    from peft import LoraConfig, get_peft_model

    train = [e for e in corpus if e.get("split", "train") == "train"]
    if not train:
        from recommender.explain.lm import ExplainerError

        raise ExplainerError("the explanation corpus has no training examples: build it from more users")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model, tokenizer = model_and_tokenizer or load_base_model(cache_dir)
    n_layers = int(model.config.num_hidden_layers)
    layers = list(range(max(0, n_layers - top_layers), n_layers)) if top_layers else None
    config = LoraConfig(r=rank, lora_alpha=alpha or 2 * rank, lora_dropout=0.05, target_modules=list(target_modules),
                        layers_to_transform=layers, task_type="CAUSAL_LM")
    peft_model = get_peft_model(model, config)
    peft_model.train()
    pairs = _training_pairs(train, tokenizer, max_tokens)
    params = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.0)
    warmup = max(1, steps // 10)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup))))
    causal_lm: Any = peft_model.get_base_model()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    order = rng.permutation(len(pairs))
    cursor = 0
    losses: list[float] = []
    started = time.perf_counter()
    bar = tqdm(range(steps), desc="training explainer", unit="step", disable=not progress, dynamic_ncols=True)
    for _ in bar:
        if cursor + batch_size > len(order):
            order, cursor = rng.permutation(len(pairs)), 0
        batch = [pairs[i] for i in order[cursor:cursor + batch_size]]
        cursor += batch_size
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        target = torch.zeros((len(batch), width), dtype=torch.bool)
        for row, (ids, prompt_len) in enumerate(batch):
            input_ids[row, :len(ids)] = torch.tensor(ids)
            mask[row, :len(ids)] = 1
            target[row, prompt_len:len(ids)] = True
        hidden = causal_lm.model(input_ids=input_ids, attention_mask=mask).last_hidden_state
        # logits only where a reference token is predicted: the vocabulary projection is a fifth of the model
        predict = target[:, 1:]
        logits = causal_lm.lm_head(hidden[:, :-1][predict])
        loss = torch.nn.functional.cross_entropy(logits.float(), input_ids[:, 1:][predict])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(round(float(loss.detach()), 4))
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    bar.close()
    seconds = time.perf_counter() - started
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    peft_model.eval()
    peft_model.save_pretrained(str(out))
    if vocabulary is not None:
        vocabulary.save(out / "vocabulary.json")
    report = TrainReport(steps, round(seconds, 2), len(pairs), losses, rank, learning_rate, batch_size, str(out),
                         top_layers)
    (out / "training.json").write_text(json.dumps(asdict(report), indent=1), encoding="utf-8")
    log.info(report.summary())
    return report


# --------------------------------------------------------------------------------------------------------------
# Metrics (pure)
# --------------------------------------------------------------------------------------------------------------

_WORD = re.compile(r"\w+|[^\w\s]")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("’", "'"))


def _ngrams(words: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


def bleu4(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """Corpus BLEU-4 in [0, 1] (lowercased words and punctuation), several references per hypothesis allowed;
    2- to 4-gram precisions get add-one smoothing (Lin & Och 2004) so short corpora do not collapse to 0.

    Example:
        >>> bleu4(["the cat sat on the mat"], [["the cat sat on the mat"]])
        1.0
        >>> round(bleu4(["the cat sat on a mat"], [["the cat sat on the mat"]]), 3)
        0.639
    """
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists")
    matches, totals = [0] * 4, [0] * 4
    hyp_len = ref_len = 0
    for hypothesis, refs in zip(hypotheses, references, strict=True):
        hyp = _words(hypothesis)
        ref_words = [_words(r) for r in refs] or [[]]
        hyp_len += len(hyp)
        ref_len += min((abs(len(r) - len(hyp)), len(r)) for r in ref_words)[1]
        for n in range(1, 5):
            counts = _ngrams(hyp, n)
            best: Counter[tuple[str, ...]] = Counter()
            for r in ref_words:
                best |= _ngrams(r, n)
            matches[n - 1] += sum(min(c, best[g]) for g, c in counts.items())
            totals[n - 1] += max(len(hyp) - n + 1, 0)
    if hyp_len == 0 or matches[0] == 0:
        return 0.0
    log_precision = math.log(matches[0] / totals[0])
    log_precision += sum(math.log((matches[n] + 1) / (totals[n] + 1)) for n in range(1, 4))
    brevity = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return round(brevity * math.exp(log_precision / 4), 6)


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    if not a or not b:
        return 0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """Mean ROUGE-L F1 in [0, 1]: the longest common word subsequence against the best of each hypothesis's
    references.

    Example:
        >>> round(rouge_l(["the cat sat on a mat"], [["the cat sat on the mat", "a dog"]]), 3)
        0.833
    """
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists")
    scores = []
    for hypothesis, refs in zip(hypotheses, references, strict=True):
        hyp = _words(hypothesis)
        best = 0.0
        for ref in refs:
            ref_words = _words(ref)
            common = _lcs(hyp, ref_words)
            if common:
                precision, recall = common / len(hyp), common / len(ref_words)
                best = max(best, 2 * precision * recall / (precision + recall))
        scores.append(best)
    return float(np.mean(scores)) if scores else 0.0


def unique_sentence_ratio(texts: Sequence[str]) -> float:
    """Distinct sentences over all sentences (lowercased, spaces collapsed): 1.0 when nothing repeats.

    Example:
        >>> unique_sentence_ratio(["A great film. Loved it.", "Loved it."])
        0.6666666666666666
    """
    sentences = [" ".join(s.lower().split()) for t in texts for s in split_sentences(t) if s.strip()]
    return len(set(sentences)) / len(sentences) if sentences else 0.0


def feature_matching_ratio(texts: Sequence[str], evidence_list: Sequence[Evidence]) -> float:
    """The share of explanations that cite at least one true evidence item (a liked title, a shared genre,
    keyword or person, a co-like count or a review sentence).

    Example:
        >>> e = Evidence(movie_id=9, title="Ronin (1998)", history_titles={6: "Heat (1995)"})
        >>> feature_matching_ratio(["Fans of Heat will like it.", "A good film."], [e, e])
        0.5
    """
    if not texts:
        return 0.0
    return sum(bool(evidence_items_mentioned(t, e)) for t, e in zip(texts, evidence_list, strict=True)) / len(texts)


def hallucination_rate(texts: Sequence[str], evidence_list: Sequence[Evidence],
                       vocabulary: Vocabulary | None = None) -> float:
    """The share of explanations making at least one claim not in their evidence: a title, person, genre,
    keyword, name, number or quote the checker cannot find there (form problems such as an unfinished
    sentence are not claims).

    Example:
        >>> e = Evidence(movie_id=9, title="Ronin (1998)", history_titles={6: "Heat (1995)"})
        >>> hallucination_rate(["Like Heat, it is great.", "Spielberg made it."], [e, e])
        0.5
    """
    if not texts:
        return 0.0
    bad = 0
    for text, evidence in zip(texts, evidence_list, strict=True):
        problems = check_explanation(text, evidence, vocabulary)
        bad += any(p.split(" ", 1)[0] in CLAIM_PROBLEMS for p in problems)
    return bad / len(texts)


# --------------------------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------------------------

METRICS = ("hallucination_rate", "feature_matching", "unique_sentence_ratio", "bleu4", "rouge_l")


def score_explanations(texts: Sequence[str], examples: Sequence[Mapping[str, Any]],
                       vocabulary: Vocabulary | None) -> dict[str, float]:
    """Every metric of a list of explanations against the examples' evidence and references.

    Example:
        >>> from recommender.explain.evidence import Anchor
        >>> e = Evidence(movie_id=9, title="Ronin (1998)", history_titles={6: "Heat (1995)"})
        >>> ex = [{"evidence": e.to_dict(), "references": ["Because you loved Heat (1995), try it."]}]
        >>> score_explanations(["Because you loved Heat (1995), try it."], ex, None)["bleu4"]
        1.0
    """
    evidence_list = [Evidence.from_dict(e["evidence"]) for e in examples]
    references = [list(e.get("references") or [e["reference"]]) for e in examples]
    return {"hallucination_rate": hallucination_rate(texts, evidence_list, vocabulary),
            "feature_matching": feature_matching_ratio(texts, evidence_list),
            "unique_sentence_ratio": unique_sentence_ratio(texts),
            "bleu4": bleu4(texts, references), "rouge_l": rouge_l(texts, references)}


def evaluate_explainers(examples: Sequence[Mapping[str, Any]], explainers: Mapping[str, Explainer],
                        vocabulary: Vocabulary | None, *, page_size: int = 10,
                        progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Each explainer's metrics on the examples, a page at a time: a ``raw`` row (what the model wrote, before
    the checker) and a ``checked`` row (what is shown; the same texts for an explainer without
    ``explain_detailed``, such as templates), plus the share of shown texts the model wrote and the seconds
    per page.

    Example:
        >>> from recommender.explain.lm import TemplateExplainer
        >>> e = Evidence(movie_id=9, title="Ronin (1998)", history_titles={6: "Heat (1995)"})
        >>> ex = [{"evidence": e.to_dict(), "references": ["It ranks well for your taste."]}]
        >>> evaluate_explainers(ex, {"template": TemplateExplainer()}, None)[["stage", "bleu4"]].values.tolist()
        [['raw', 1.0], ['checked', 1.0]]
    """
    evidence_list = [Evidence.from_dict(e["evidence"]) for e in examples]
    pages = [range(i, min(i + page_size, len(examples))) for i in range(0, len(examples), page_size)]
    rows: list[dict[str, Any]] = []
    for name, explainer in explainers.items():
        if progress:
            progress(name)
        raw: list[str] = [""] * len(examples)
        shown: list[str] = [""] * len(examples)
        sources: list[str] = ["template"] * len(examples)
        detailed = getattr(explainer, "explain_detailed", None)
        started = time.perf_counter()
        for page in pages:
            batch = [evidence_list[i] for i in page]
            if detailed is not None:
                for j, item in detailed(batch):
                    raw[page[j]], shown[page[j]], sources[page[j]] = item.raw, item.text, item.source
            else:
                for j, text in enumerate(explainer.explain(batch)):
                    raw[page[j]] = shown[page[j]] = text
        seconds = (time.perf_counter() - started) / max(len(pages), 1)
        stages = [("raw", raw), ("checked", shown)]
        for stage, texts in stages:
            row: dict[str, Any] = {"explainer": name, "stage": stage, "n": len(texts)}
            row.update(score_explanations(texts, examples, vocabulary))
            row["model_written"] = (sum(s != "template" for s in sources) / len(sources)
                                    if detailed is not None and stage == "checked" and sources else
                                    (1.0 if detailed is not None else 0.0))
            row["seconds_per_page"] = round(seconds, 3)
            rows.append(row)
    return pd.DataFrame(rows)


def markdown_table(frame: pd.DataFrame) -> str:
    """An evaluation frame as a markdown table (rates and scores to three decimals).

    Example:
        >>> print(markdown_table(pd.DataFrame([{"explainer": "template", "bleu4": 0.5}])))
        | explainer | bleu4 |
        |---|---|
        | template | 0.500 |
    """
    columns = list(frame.columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for _, row in frame.iterrows():
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.tolist()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def target_report(frame: pd.DataFrame) -> dict[str, bool]:
    """The issue's targets checked against an :func:`evaluate_explainers` frame: no false claim shown by any
    explainer, and for the fine-tuned model (when present) feature matching >= 0.95, unique sentences >= 0.9
    and raw output better than the base model's on every metric.

    Example:
        >>> target_report(pd.DataFrame([{"explainer": "template", "stage": "checked", "hallucination_rate": 0.0}]))
        {'no hallucination shown': True}
    """
    rows = {(r["explainer"], r["stage"]): r for r in frame.to_dict(orient="records")}
    out = {"no hallucination shown": all(r["hallucination_rate"] == 0 for (_, stage), r in rows.items()
                                         if stage == "checked")}
    tuned = rows.get(("fine-tuned", "checked"))
    if tuned is not None:
        out["fine-tuned feature matching >= 0.95"] = tuned["feature_matching"] >= 0.95
        out["fine-tuned unique sentence ratio >= 0.9"] = tuned["unique_sentence_ratio"] >= 0.9
    tuned_raw, base_raw = rows.get(("fine-tuned", "raw")), rows.get(("base", "raw"))
    if tuned_raw is not None and base_raw is not None:
        out["fine-tuned beats base on every metric"] = (
            tuned_raw["hallucination_rate"] < base_raw["hallucination_rate"]
            and all(tuned_raw[m] > base_raw[m] for m in METRICS if m != "hallucination_rate"))
    return out
