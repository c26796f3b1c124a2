"""'Retrieve': search-engine connectors (see docs/connectors.md)."""

from .http import FetchError
from .presets import PRESETS, Hit, SpecError
from .services import ConnectorError, FetchReport, connector_fetch_run, connector_search

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
