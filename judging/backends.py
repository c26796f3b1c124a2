"""Backends: the three LLM steps (guideline, image description, judgment) behind one
async interface, either over an OpenAI-compatible endpoint or the offline baseline.

Output handling is the same for every endpoint: the answer must parse as JSON and
validate against the step's pydantic model; a refusal, a truncated answer or an
out-of-scale label counts as invalid. Invalid answers are retried a bounded number of
times, then the step returns `invalid` (never a guessed label). Transient errors (429,
5xx, timeouts) are retried here a few times with exponential backoff and jitter,
honouring Retry-After; if they persist, LLMCallError propagates and the Celery task
retries the remaining pairs later with a longer backoff.
"""

import asyncio
import base64
import json
import math
import random
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from . import offline, prompts
from .contracts import QUERY_TAGS, GuidelineDraft, LevelInfo, ProductContext, QueryContext, Requirement, Usage, Verdict
from .llm_client import Completion, LLMCallError, LLMClient, TokenProbs
from .ratelimit import RateLimiter

T = TypeVar("T")

INVALID_RETRIES = 2  # extra attempts after an invalid answer
# An invalid answer asked again with the same prompt, temperature 0 and no seed comes back
# the same (seen with llama.cpp): each retry samples warmer and with its own seed.
RETRY_TEMPERATURES = (0.5, 0.9)
DEFAULT_MAX_TOKENS = 1024
TRANSIENT_ATTEMPTS = 3  # attempts per call before the error goes up to the task
BACKOFF_BASE = 1.0
BACKOFF_CAP = 30.0


@dataclass
class StepResult(Generic[T]):
    value: T | None  # None: the answers stayed invalid
    model: str
    usage: Usage = field(default_factory=Usage)
    raw: list = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.value is not None


class _RequirementOut(BaseModel):
    attribute: str
    value: str
    importance: float
    negated: bool = False


class _GuidelineOut(BaseModel):
    requirements: list[_RequirementOut]
    guideline: str
    tags: list[str] = []


class _DescriptionOut(BaseModel):
    description: str


class _JudgmentOut(BaseModel):
    rationale: str
    requirements_met: list[str] = []
    requirements_unmet: list[str] = []
    applied_rules: list[str] = []
    label: str


class InvalidAnswer(ValueError):
    pass


def backoff_delay(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter; the server's Retry-After is a floor."""
    delay = random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt))
    if retry_after is not None:
        delay = max(delay, min(retry_after, BACKOFF_CAP))
    return delay


class OpenAIBackend:
    name = "openai"

    def __init__(
        self,
        *,
        client: LLMClient,
        guideline_model: str,
        vision_model: str,
        judge_model: str,
        limiter: RateLimiter | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        stop: list[str] | None = None,
        llama_cpp: bool = False,
    ):
        self.client = client
        self.guideline_model = guideline_model
        self.vision_model = vision_model
        self.judge_model = judge_model
        self.limiter = limiter
        self.max_tokens = max_tokens
        self.stop = stop or None
        # llama.cpp reports token probabilities from before its grammar unless asked for
        # the ones after its sampler chain (`post_sampling_probs`, a llama.cpp extension that
        # other servers would refuse).
        self.llama_cpp = llama_cpp

    async def _call(self, *, model: str, messages: list[dict], schema: dict, **kwargs) -> Completion:
        estimate = sum(len(json.dumps(m.get("content"), ensure_ascii=False)) for m in messages) // 4 + 300
        for attempt in range(TRANSIENT_ATTEMPTS):
            if self.limiter is not None:
                await self.limiter.acquire(tokens=estimate)
            try:
                return await self.client.complete(
                    model=model, messages=messages, schema=schema, max_tokens=self.max_tokens, stop=self.stop, **kwargs
                )
            except LLMCallError as exc:
                if not exc.retryable or attempt == TRANSIENT_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(backoff_delay(attempt, exc.retry_after))
        raise AssertionError("unreachable")

    async def _validated(self, *, model: str, messages: list[dict], schema: dict, parse, **kwargs) -> StepResult:
        """Call, parse every choice; retry invalid answers up to INVALID_RETRIES times."""
        usage = Usage()
        raw: list = []
        error = ""
        for attempt in range(1 + INVALID_RETRIES):
            if attempt:
                warmer = RETRY_TEMPERATURES[min(attempt, len(RETRY_TEMPERATURES)) - 1]
                kwargs["temperature"] = max(kwargs.get("temperature") or 0.0, warmer)
                kwargs["seed"] = attempt
            completion = await self._call(model=model, messages=messages, schema=schema, **kwargs)
            usage = usage + Usage(completion.tokens_in, completion.tokens_out, completion.latency_ms, 1)
            raw.append(completion.raw)
            try:
                value = parse(completion)
            except InvalidAnswer as exc:
                error = str(exc)
                continue
            return StepResult(value, model, usage, raw)
        return StepResult(None, model, usage, raw, error)

    async def guideline(self, query: QueryContext) -> StepResult[GuidelineDraft]:
        def parse(completion: Completion) -> GuidelineDraft:
            out = _parse_json(completion.choices[0], _GuidelineOut)
            return GuidelineDraft(
                requirements=[
                    Requirement(r.attribute.strip(), r.value.strip(), min(max(r.importance, 0.0), 1.0), r.negated)
                    for r in out.requirements
                    if r.attribute.strip() and r.value.strip()
                ],
                text=out.guideline.strip(),
                tags=[tag for tag in out.tags if tag in QUERY_TAGS],
            )

        return await self._validated(
            model=self.guideline_model,
            messages=prompts.guideline_messages(query),
            schema=prompts.guideline_schema(),
            parse=parse,
        )

    async def describe(self, *, image_url: str, title: str, image_bytes: bytes | None = None) -> StepResult[str]:
        def parse(completion: Completion) -> str:
            text = _parse_json(completion.choices[0], _DescriptionOut).description.strip()
            if not text:
                raise InvalidAnswer("empty description")
            return text

        return await self._validated(
            model=self.vision_model,
            messages=prompts.description_messages(image_url, title=title),
            schema=prompts.description_schema(),
            parse=parse,
        )

    async def judge(
        self,
        *,
        query: QueryContext,
        guideline: GuidelineDraft,
        product: ProductContext,
        levels: list[LevelInfo],
        mode: str,
        samples: int = 1,
        use_logprobs: bool = False,
    ) -> StepResult[Verdict]:
        by_name = {level.name.lower(): level.value for level in levels}

        def parse(completion: Completion) -> Verdict:
            answers = []
            reasons = []
            for choice in completion.choices:
                try:
                    out = _parse_json(choice, _JudgmentOut)
                except InvalidAnswer as exc:
                    reasons.append(str(exc))
                    continue  # with k samples, one bad sample does not spoil the others
                value = by_name.get(out.label.strip().lower())
                if value is None:
                    reasons.append(f"label {out.label[:60]!r} is not on the scale")
                else:
                    answers.append((value, out, choice))
            if not answers:
                # The first reason is the one to act on (e.g. raise the token limit).
                raise InvalidAnswer(f"no valid label in the answer: {reasons[0] if reasons else 'no choices'}")
            verdict = _verdict_from_samples(
                answers, requested=samples, use_logprobs=use_logprobs, label_names=[level.name for level in levels]
            )
            return with_applied_rules(verdict, [out.applied_rules for _, out, _ in answers], query, requested=samples)

        return await self._validated(
            model=self.judge_model,
            messages=prompts.judgment_messages(
                query=query, guideline=guideline, product=product, levels=levels, mode=mode
            ),
            schema=prompts.judgment_schema(levels, [rule.rule_id for rule in query.rules]),
            parse=parse,
            n=samples,
            temperature=0.7 if samples > 1 else 0.0,
            logprobs=use_logprobs and samples == 1,
            top_logprobs=min(20, len(levels) + 2),
            extra={"post_sampling_probs": True} if self.llama_cpp and use_logprobs and samples == 1 else None,
        )


def with_applied_rules(verdict: Verdict, cited: list[list[str]], query: QueryContext, *, requested: int = 1) -> Verdict:
    """The verdict with the rule ids its samples cited: ids not in scope are dropped with
    a note, and with k > 1 samples a rule is kept only when at least 2 of them name it
    (RAIR's filter against one sample's stray citation)."""
    known = {rule.rule_id for rule in query.rules}
    counts = Counter(rule_id for sample in cited for rule_id in dict.fromkeys(sample))
    unknown = sorted(rule_id for rule_id in counts if rule_id not in known)
    need = 2 if requested > 1 else 1
    kept = sorted(rule_id for rule_id, n in counts.items() if rule_id in known and n >= need)
    note = f"dropped rule ids not in scope: {', '.join(unknown)}"[:500] if unknown else ""
    return replace(verdict, applied_rules=kept, rule_note=note)


def _parse_json(choice, model: type[BaseModel]):
    if choice.refusal:
        raise InvalidAnswer(f"refused: {choice.refusal[:200]}")
    if choice.finish_reason == "length":
        raise InvalidAnswer("answer truncated (finish_reason=length)")
    if not choice.content:
        raise InvalidAnswer("empty answer")
    try:
        return model.model_validate_json(choice.content)
    except ValidationError as exc:
        raise InvalidAnswer(f"answer does not match the schema: {exc.errors()[0].get('msg', exc)}") from None


def _verdict_from_samples(
    answers: list, *, requested: int, use_logprobs: bool, label_names: list[str] | None = None
) -> Verdict:
    counts = Counter(value for value, _, _ in answers)
    top = max(counts.values())
    # Ties go to the lower label: the conservative choice, and its confidence says so.
    value = min(v for v, c in counts.items() if c == top)
    chosen = next(out for v, out, _ in answers if v == value)
    confidence: float | None
    if requested > 1:
        confidence = top / requested  # invalid samples count against confidence
    elif use_logprobs:
        confidence = _label_probability(answers[0][2], chosen.label, label_names)
    else:
        confidence = None
    return Verdict(
        value=value,
        rationale=chosen.rationale.strip(),
        confidence=confidence,
        requirements_met=chosen.requirements_met,
        requirements_unmet=chosen.requirements_unmet,
        samples=[v for v, _, _ in answers] if requested > 1 else [],
    )


_LABEL_VALUE = re.compile(r'"label"\s*:\s*"')


def _label_probability(choice, label: str, names: list[str] | None = None) -> float | None:
    """The probability of the chosen label among the scale's labels, from the answer's
    logprobs, or None when the answer carries none at the label.

    Servers that enforce the JSON schema as a grammar (llama.cpp) may report token
    probabilities from before the grammar applied, where most of the mass sits on tokens
    the grammar forbids: the raw probability of the label token then says nothing (0.02–0.1
    on every pair). So the probability is renormalised over the tokens that continue one of
    the scale's labels, token by token until the label is decided. Alternatives the server
    did not list count with the most they can weigh (the smallest listed probability each,
    within the mass left over), so a short top list errs towards doubt, not certainty.
    """
    tokens = choice.token_probs or [TokenProbs(token, logprob) for token, logprob in choice.logprobs]
    if not tokens:
        return None
    targets = [f'{name}"'.lower() for name in (names or [label])]
    start, cut = _label_start(tokens, label)
    if start is None:
        return None
    prefix, confidence = "", 1.0
    for index in range(start, len(tokens)):
        token = tokens[index]
        offset = cut if index == start else 0
        factor = _renormalised(token, offset, prefix, targets)
        if factor is None:
            return None
        confidence *= factor
        prefix += token.token[offset:].lower()
        if len([t for t in targets if t.startswith(prefix) or prefix.startswith(t)]) <= 1:
            break
    return min(max(confidence, 0.0), 1.0)


def _label_start(tokens: list[TokenProbs], label: str) -> tuple[int | None, int]:
    """The token where the label value begins, and how many of its characters come before."""
    text = "".join(t.token for t in tokens)
    match = _LABEL_VALUE.search(text)
    if match:
        position = 0
        for index, token in enumerate(tokens):
            if position + len(token.token) > match.end():
                return index, match.end() - position
            position += len(token.token)
    for index, token in enumerate(tokens):  # endpoints that return only the label token
        bare = token.token.strip().strip('"')
        if bare and label.lower().startswith(bare.lower()):
            return index, len(token.token) - len(token.token.lstrip().lstrip('"'))
    return None, 0


def _renormalised(token: TokenProbs, offset: int, prefix: str, targets: list[str]) -> float | None:
    """P(chosen token) over the listed tokens that keep a label possible (see above)."""
    chosen = token.token[offset:].lower()

    def continues(piece: str) -> bool:
        text = prefix + piece
        return bool(piece) and any(t.startswith(text) or text.startswith(t) for t in targets)

    if not continues(chosen):
        return None
    p_chosen = math.exp(token.logprob)
    if not token.top:
        return p_chosen  # nothing to renormalise with: the raw probability, a lower bound
    listed: dict[str, float] = {}
    for text, logprob in [(token.token, token.logprob), *token.top]:
        if text[:offset] == token.token[:offset]:
            piece = text[offset:].lower()
            listed[piece] = max(listed.get(piece, 0.0), math.exp(logprob))
    allowed = {piece: p for piece, p in listed.items() if continues(piece)}
    open_targets = [t for t in targets if t.startswith(prefix) or prefix.startswith(t)]
    unlisted = [
        t
        for t in open_targets
        if not any((prefix + piece).startswith(t) or t.startswith(prefix + piece) for piece in allowed)
    ]
    leftover = max(0.0, 1.0 - sum(listed.values()))
    unseen = min(leftover, len(unlisted) * min(listed.values()))
    return p_chosen / (sum(allowed.values()) + unseen)


class OfflineBackend:
    """The offline baseline behind the same interface: deterministic, free, no network."""

    name = "offline"
    guideline_model = vision_model = judge_model = offline.OFFLINE_MODEL

    async def guideline(self, query: QueryContext) -> StepResult[GuidelineDraft]:
        return StepResult(offline.offline_guideline(query), offline.OFFLINE_MODEL, Usage(calls=1))

    async def describe(self, *, image_url: str, title: str, image_bytes: bytes | None = None) -> StepResult[str]:
        if image_bytes is None and image_url.startswith("data:"):
            image_bytes = base64.b64decode(image_url.split(",", 1)[1])
        text = offline.offline_describe(ProductContext(external_id="", title=title), image_bytes)
        return StepResult(text, offline.OFFLINE_MODEL, Usage(calls=1))

    async def judge(
        self, *, query, guideline, product, levels, mode, samples=1, use_logprobs=False
    ) -> StepResult[Verdict]:
        verdict = offline.offline_judge(guideline=guideline, product=product, levels=levels)
        cited = offline.offline_applied_rules(query.rules, verdict)
        return StepResult(with_applied_rules(verdict, [cited], query), offline.OFFLINE_MODEL, Usage(calls=1))

    async def aclose(self) -> None:
        return None
