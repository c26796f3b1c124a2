"""Checking an OpenAI-compatible endpoint when a job is created, so that what would fail
every chunk fails the request instead, in seconds and with a reason: the endpoint is
unreachable, it does not serve a configured model, or the model that would receive
images cannot read them. It also finds out whether the server is llama.cpp's, whose
label probabilities need asking for differently (OpenAIBackend(llama_cpp=True)).

Creation is synchronous for the CLI, the API and the pages, so this is where a failure
reaches the person who asked.
"""

import asyncio
import logging
import os

from ..endpoint_rules import endpoint_problem
from ..llm_client import LLMCallError, LLMClient
from ..models import Backend, Mode

log = logging.getLogger(__name__)

# /models answers in milliseconds on a server that is up, busy or not.
CHECK_TIMEOUT = 15.0

# Which setting names each model, for the message that says what to change.
MODEL_SETTINGS = {
    "guideline_model": ("QRELAY_GUIDELINE_MODEL", "guideline"),
    "vision_model": ("QRELAY_VISION_MODEL", "vision"),
    "judge_model": ("QRELAY_JUDGE_MODEL", "judge"),
}


class EndpointRefused(ValueError):
    """The endpoint cannot run this job: the message says why and what to change."""


def endpoint_check(record: dict) -> dict:
    """What a job records about its endpoint (`llama_cpp`, `endpoint_note`), from the
    endpoint's /models list. Raises EndpointRefused when the job cannot work there."""
    if record["backend"] != Backend.OPENAI:
        return {"llama_cpp": False, "endpoint_note": ""}
    problem = endpoint_problem(api_key_env=record["api_key_env"], base_url=record["base_url"])
    if problem:
        raise EndpointRefused(problem)
    api_key = os.environ.get(record["api_key_env"], "")
    base_url = record["base_url"] or None
    if not api_key and not base_url:
        # OpenAI's own endpoint needs a key (a server of your own does not): say so before
        # asking the network anything.
        raise EndpointRefused(
            f"the project uses OpenAI's endpoint but ${record['api_key_env']} is not set "
            "(set it, or OPENAI_BASE_URL for a server of your own)"
        )

    async def listed() -> tuple[str, list[dict]]:
        client = LLMClient(base_url=base_url, api_key=api_key, timeout=min(CHECK_TIMEOUT, float(record["timeout"])))
        try:
            return client.base_url, await client.models()
        finally:
            await client.aclose()

    url = (base_url or "https://api.openai.com/v1").rstrip("/")
    try:
        url, entries = asyncio.run(listed())
        url = url.rstrip("/")
    except LLMCallError as exc:
        if exc.status is None:  # no HTTP answer at all: refused, unknown host, timed out
            raise EndpointRefused(f"cannot reach the LLM endpoint at {url}: {exc}") from None
        # Some proxies and gateways have no /models (404) or guard it (401): the chunks'
        # own calls will tell whether the endpoint works.
        note = f"GET {url}/models answered {exc}; the models were not checked"
        log.warning("judge job: %s", note)
        return {"llama_cpp": False, "endpoint_note": note}
    served = {str(entry.get("id")): entry for entry in entries if entry.get("id")}
    if not served:
        return {"llama_cpp": False, "endpoint_note": f"{url}/models lists no models; the models were not checked"}
    _check_models(record, served, url)
    return {
        "llama_cpp": any(entry.get("owned_by") == "llamacpp" for entry in served.values()),
        "endpoint_note": "",
    }


def _check_models(record: dict, served: dict[str, dict], url: str) -> None:
    # llama.cpp answers with its one model whatever name a request gives: without this
    # check, judgments would be recorded under a model that never ran.
    mode = record["mode"]
    needed = ["guideline_model", "judge_model"] + (["vision_model"] if mode == Mode.CAPTION else [])
    for field in needed:
        name = record[field]
        if name not in served:
            variable, what = MODEL_SETTINGS[field]
            raise EndpointRefused(
                f"model {name} is not served by {url}; it serves {', '.join(sorted(served))}: "
                f"set {variable} or the project's {what} model"
            )
    # The model that receives the images: the judge in vision mode, the describer in caption mode.
    reader = {Mode.VISION: "judge_model", Mode.CAPTION: "vision_model"}.get(mode)
    if reader is None:
        return
    modalities = (served[record[reader]].get("architecture") or {}).get("input_modalities")
    if isinstance(modalities, list) and "image" not in modalities:
        hint = (
            "--mode text, or --mode caption with a vision model that describes the images (QRELAY_VISION_MODEL)"
            if mode == Mode.VISION
            else "--mode text, or a vision model that reads images (QRELAY_VISION_MODEL or the project's vision model)"
        )
        raise EndpointRefused(
            f"model {record[reader]} at {url} reads no images (its input: {', '.join(map(str, modalities))}), "
            f"so {mode} mode cannot work: use {hint}"
        )
