"""'Retrieve': search-engine connectors (see docs/connectors.md).

The names below are loaded on first use: config/settings.py imports the pure
`endpoints` module at start-up, before Django's apps (and so the models that
`services` needs) are ready.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .endpoints import FetchError
    from .presets import PRESETS, Hit, SpecError
    from .services import ConnectorError, FetchReport, connector_fetch_run, connector_search

_WHERE = {
    "FetchError": ".endpoints",
    "PRESETS": ".presets",
    "Hit": ".presets",
    "SpecError": ".presets",
    "ConnectorError": ".services",
    "FetchReport": ".services",
    "connector_fetch_run": ".services",
    "connector_search": ".services",
}

__all__ = [
    "PRESETS",
    "ConnectorError",
    "FetchError",
    "FetchReport",
    "Hit",
    "SpecError",
    "connector_fetch_run",
    "connector_search",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_WHERE[name], __name__), name)
