"""Judging building blocks: configuration, backends, cache keys, contexts, cost."""

import base64
import hashlib
import json
import os
from decimal import Decimal
from pathlib import Path

from django.conf import settings

from annotation.models import Pair, Product, ProductImage, Project, Query, QueryImage

from . import offline, prompts
from .backends import OfflineBackend, OpenAIBackend
from .contracts import GuidelineDraft, LevelInfo, ProductContext, QueryContext, RuleRef
from .llm_client import LLMClient
from .models import Backend, Guideline, JudgeConfig, JudgeJob, Mode, Price
from .ratelimit import RateLimiter


class JudgingConfigError(ValueError):
    """The project's judging set-up cannot work (e.g. no API key): say what to fix."""


def judge_config_for(project: Project) -> JudgeConfig:
    # Only the backend is copied: the endpoint settings stay empty (= the environment's
    # when a job starts), so changing QRELAY_LLM_* later reaches this project too.
    config, _ = JudgeConfig.objects.get_or_create(project=project, defaults={"backend": settings.QRELAY_LLM_BACKEND})
    return config


ENDPOINT_FIELDS = ("max_in_flight", "timeout", "max_tokens", "stop")


def endpoint_limits(config: JudgeConfig) -> dict:
    """How hard a job starting now drives its endpoint: max_in_flight, timeout (seconds),
    max_tokens and stop, and the preset they start from. A lead's choice wins: the
    project's own values, then the project's preset. Without one, the environment's:
    QRELAY_LLM_MAX_IN_FLIGHT / _TIMEOUT / _MAX_TOKENS / _STOP, then QRELAY_LLM_PRESET's."""
    environment = {
        "max_in_flight": settings.QRELAY_LLM_MAX_IN_FLIGHT,
        "timeout": settings.QRELAY_LLM_TIMEOUT,
        "max_tokens": settings.QRELAY_LLM_MAX_TOKENS,
        "stop": settings.QRELAY_LLM_STOP,
    }
    preset = config.preset or settings.QRELAY_LLM_PRESET
    values = settings.QRELAY_LLM_PRESETS[preset]
    limits: dict = {"preset": preset}
    for name in ENDPOINT_FIELDS:
        own = getattr(config, name)
        if own is not None:
            limits[name] = own
        elif not config.preset and environment[name] is not None:
            limits[name] = environment[name]
        else:
            limits[name] = values[name]
    limits["stop"] = list(limits["stop"] or [])
    return limits


def calls_in_flight(config: JudgeConfig) -> int:
    """How many LLM calls a task of a job with this configuration keeps going."""
    return int(endpoint_limits(config)["max_in_flight"])


def judge_config_record(config: JudgeConfig, *, mode: str) -> dict:
    """What a job records of its project's configuration when it is created
    (JudgeJob.config), with the environment's values filled in: everything its chunks
    read, so that they run with exactly these values whatever a lead or an operator
    changes meanwhile. The API key stays in the environment; only its variable's name is
    recorded."""
    models = models_for(config)
    return {
        "backend": config.backend,
        "mode": mode,
        "base_url": config.base_url or settings.OPENAI_BASE_URL,
        "api_key_env": config.api_key_env,
        "guideline_model": models["guideline"],
        "vision_model": models["vision"],
        "judge_model": models["judge"],
        "samples": config.samples,
        "use_logprobs": config.use_logprobs,
        **endpoint_limits(config),
        "requests_per_minute": config.requests_per_minute,
        "tokens_per_minute": config.tokens_per_minute,
        # What judge_job_create's endpoint check finds out (jobs/endpoint.py).
        "llama_cpp": False,
        "endpoint_note": "",
    }


def job_judge_config(job: JudgeJob) -> JudgeConfig:
    """The configuration a job runs with: the one it recorded when it was created, as an
    unsaved JudgeConfig; jobs created before jobs recorded theirs use the project's.
    Endpoint settings a record lacks (made before they were recorded) come from the
    environment."""
    record = job.config or judge_config_record(judge_config_for(job.project), mode=job.mode)
    fields = {field.name for field in JudgeConfig._meta.concrete_fields} - {"id", "project"}
    config = JudgeConfig(project_id=job.project_id, **{k: v for k, v in record.items() if k in fields})
    for name, value in endpoint_limits(config).items():
        setattr(config, name, value)
    config.llama_cpp = bool(record.get("llama_cpp"))
    return config


def models_for(config: JudgeConfig) -> dict[str, str]:
    if config.backend == Backend.OFFLINE:
        return {"guideline": offline.OFFLINE_MODEL, "vision": offline.OFFLINE_MODEL, "judge": offline.OFFLINE_MODEL}
    return {
        "guideline": config.guideline_model or settings.QRELAY_GUIDELINE_MODEL,
        "vision": config.vision_model or settings.QRELAY_VISION_MODEL,
        "judge": config.judge_model or settings.QRELAY_JUDGE_MODEL,
    }


def backend_for(config: JudgeConfig, *, max_in_flight: int | None = None):
    """A backend for one task's event loop (the async client must be made inside it)."""
    if config.backend == Backend.OFFLINE:
        return OfflineBackend()
    api_key = os.environ.get(config.api_key_env, "")
    base_url = config.base_url or settings.OPENAI_BASE_URL or None
    # A server of your own (llama.cpp, vLLM, Ollama) usually wants no key; OpenAI's does.
    if not api_key and not base_url:
        raise JudgingConfigError(
            f"the project uses OpenAI's endpoint but ${config.api_key_env} is not set in the worker's environment "
            "(set it, or OPENAI_BASE_URL for a server of your own)"
        )
    models = models_for(config)
    limits = endpoint_limits(config)
    client = LLMClient(
        base_url=base_url,
        api_key=api_key,
        timeout=float(limits["timeout"]),
        max_connections=max_in_flight or limits["max_in_flight"],
    )
    limiter = RateLimiter(
        key=f"project{config.project_id}",
        requests_per_minute=config.requests_per_minute,
        tokens_per_minute=config.tokens_per_minute,
        redis_url=settings.QRELAY_REDIS_URL or None,
    )
    return OpenAIBackend(
        client=client,
        guideline_model=models["guideline"],
        vision_model=models["vision"],
        judge_model=models["judge"],
        limiter=limiter if limiter.active else None,
        max_tokens=limits["max_tokens"],
        stop=limits["stop"],
        llama_cpp=config.llama_cpp,
    )


def levels_for(project: Project) -> list[LevelInfo]:
    return [LevelInfo(value, name) for value, name in project.levels.order_by("value").values_list("value", "name")]


# --- cache keys ---------------------------------------------------------------------


def _hash(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def guideline_key(*, model: str, query: Query, rulebook: list, mode: str = "") -> str:
    # rulebook: annotation.rulebook.fingerprint of the rules the guideline step sees.
    # The catalogue vocabulary is a hint, not part of the key: importing products must
    # not invalidate (and re-bill) every guideline. The query id is part of it: a
    # Guideline row belongs to one query, and a query with the same text (in this or
    # another project) must get its own row instead of finding the other's key, which
    # left it without a guideline and re-billed it on every job.
    # A query with reference images (MERIT) adds their content hash, and whether the
    # guideline step sees the images (vision) or not; a plain query's key is unchanged.
    references = [query.reference_hash, mode == Mode.VISION] if query.reference_hash else []
    return _hash(
        "guideline", model, prompts.GUIDELINE_VERSION, query.id, query.text, query.locale, rulebook, *references
    )


def description_key(*, model: str, image: ProductImage | QueryImage) -> str:
    return _hash("description", model, prompts.DESCRIPTION_VERSION, image.sha256 or image.source)


def judgment_key(
    *,
    pair_id: int,
    model: str,
    mode: str,
    guideline_key: str,
    product: Product,
    query: Query,
    levels: list[LevelInfo],
    samples: int,
    logprobs: bool,
    rules: list | None = None,
) -> str:
    # The pair id keeps two products with identical content (duplicates in a catalogue)
    # from sharing one judgment row. `rules` is the fingerprint of the rules in scope for
    # this pair (annotation.rulebook): only pairs a rule change reaches get a new key;
    # without rules the key is what it was before rules existed.
    return _hash(
        "judgment",
        pair_id,
        model,
        prompts.JUDGMENT_VERSION,
        mode,
        guideline_key,
        product.content_hash,
        query.text,
        [(level.value, level.name) for level in levels],
        samples,
        logprobs,
        # The reference images' content (MERIT): a changed reference image is judged again.
        *([query.reference_hash] if query.reference_hash else []),
        *([rules] if rules else []),
    )


# --- contexts -----------------------------------------------------------------------


def project_vocabulary(project: Project) -> dict[str, list[str]]:
    rows = Product.objects.filter(project=project).values_list(
        "external_id", "title", "brand", "category", "attributes"
    )
    return offline.vocabulary_from_products(
        ProductContext(external_id=pid, title=title, brand=brand, category=category, attributes=attributes or {})
        for pid, title, brand, category, attributes in rows.iterator(chunk_size=5000)
    )


def query_context(
    query: Query,
    *,
    project: Project,
    vocabulary: dict,
    rules=(),
    mode: str = "",
    descriptions: dict[int, str] | None = None,
) -> QueryContext:
    """The query for a prompt. `rules`: the annotation.Rule rows in scope for this step
    (annotation.rulebook). Its reference images go along as images in vision mode and
    as their descriptions (query image id → text) in caption mode."""
    images = reference_images(query) if query.reference_hash else []
    return QueryContext(
        text=query.text,
        locale=query.locale,
        vocabulary=vocabulary,
        rules=[RuleRef(rule.rule_id, rule.text) for rule in rules],
        reference_images=[url for url in (image_data_url(i) for i in images) if url] if mode == Mode.VISION else [],
        conditions=list(query.conditions or []),
        reference_descriptions=[(descriptions or {}).get(i.id, "") for i in images] if mode == Mode.CAPTION else [],
    )


def reference_images(query: Query) -> list[QueryImage]:
    return sorted(query.images.all(), key=lambda image: image.position)


def image_data_url(image: ProductImage | QueryImage) -> str | None:
    """The stored (re-encoded) image as a data: URL, or the remote URL."""
    if image.status == ProductImage.Status.REMOTE:
        return image.source
    path = Path(settings.MEDIA_ROOT) / image.stored_name
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return "data:image/jpeg;base64," + base64.b64encode(data).decode()


def product_context(product: Product, *, mode: str, descriptions: dict[int, str] | None = None) -> ProductContext:
    images = list(product.images.all())
    return ProductContext(
        external_id=product.external_id,
        title=product.title,
        brand=product.brand,
        category=product.category,
        description=product.description,
        attributes=product.attributes or {},
        image_descriptions=[descriptions[i.id] for i in images if descriptions and i.id in descriptions]
        if mode == Mode.CAPTION
        else [],
        images=[url for url in (image_data_url(i) for i in images) if url] if mode == Mode.VISION else [],
    )


def guideline_draft(guideline: Guideline) -> GuidelineDraft:
    return GuidelineDraft.from_dict(
        {"requirements": guideline.requirements, "text": guideline.text, "tags": guideline.tags}
    )


def current_guidelines(query_ids) -> dict[int, Guideline]:
    """The newest guideline of each query."""
    found: dict[int, Guideline] = {}
    for guideline in Guideline.objects.filter(query_id__in=list(query_ids)).order_by("query_id", "-version"):
        found.setdefault(guideline.query_id, guideline)
    return found


def pairs_for_judging(pair_ids) -> list[Pair]:
    return list(
        Pair.objects.filter(id__in=list(pair_ids))
        .select_related("query", "product")
        .prefetch_related("product__images", "query__images")
        .order_by("id")
    )


# --- cost ---------------------------------------------------------------------------


def price_table() -> dict[str, tuple[Decimal, Decimal]]:
    return {p.model: (p.input_per_million, p.output_per_million) for p in Price.objects.all()}


def cost_eur(prices: dict[str, tuple[Decimal, Decimal]], model: str, tokens_in: int, tokens_out: int) -> Decimal:
    price = prices.get(model)
    if price is None:
        return Decimal(0)
    return (price[0] * tokens_in + price[1] * tokens_out) / Decimal(1_000_000)
