"""Strict readers for settings that come from the environment.

A value that is set but malformed raises ImproperlyConfigured at start-up rather than
silently falling back to a default: a typo in production must not go unnoticed.
"""

import json
import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0/true/false/yes/no/on/off, got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {value}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: set[str]) -> str:
    value = os.environ.get(name, default).strip()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def env_int_or_none(name: str, *, minimum: int | None = None) -> int | None:
    """An integer, or None when the variable is unset or empty (the caller's default
    then depends on other settings, e.g. a preset)."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    return env_int(name, 0, minimum=minimum)


def env_json_strings(name: str) -> list[str] | None:
    """A JSON list of strings (e.g. stop sequences, which may hold commas or newlines), or
    None when the variable is unset or empty."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        raise ImproperlyConfigured(f'{name} must be a JSON list of strings, e.g. ["\\n\\n"], got {raw!r}') from None
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ImproperlyConfigured(f"{name} must be a JSON list of non-empty strings, got {raw!r}")
    return value
