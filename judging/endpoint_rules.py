"""Which LLM endpoints and key variables a project may use: the operator's choice, not a
lead's or an admin's. A project's judging configuration names an environment variable whose
value is sent as the bearer token, and may name its own base URL; unchecked, that would
send any server secret (DATABASE_URL, SECRET_KEY) to any host. Checked when a configuration
is saved (JudgeConfig.clean, the admin) and when a job is made from it (jobs/endpoint.py):
the job records the checked values and its chunks use exactly those."""

from django.conf import settings

KEY_ENV_PREFIX = "QRELAY_LLM_KEY_"


def allowed_key_envs() -> list[str]:
    return list(settings.QRELAY_LLM_KEY_ENVS)


def allowed_base_urls() -> list[str]:
    urls = [*settings.QRELAY_LLM_BASE_URLS, settings.OPENAI_BASE_URL]
    return [_normal(url) for url in urls if url]


def _normal(url: str) -> str:
    return url.strip().rstrip("/")


def endpoint_problem(*, api_key_env: str, base_url: str) -> str | None:
    """Why this key variable or base URL may not be used, or None."""
    if api_key_env and api_key_env not in allowed_key_envs() and not api_key_env.startswith(KEY_ENV_PREFIX):
        return (
            f"the API key variable {api_key_env!r} is not one the operator allows: use {KEY_ENV_PREFIX}<NAME> "
            f"or one of QRELAY_LLM_KEY_ENVS ({', '.join(allowed_key_envs()) or 'none'})"
        )
    if base_url and _normal(base_url) not in allowed_base_urls():
        return (
            f"the base URL {base_url!r} is not one the operator allows: set OPENAI_BASE_URL or add it to "
            "QRELAY_LLM_BASE_URLS"
        )
    return None
