"""What every agreement figure is computed with: the project's scale, the level of
measurement and the bootstrap settings (`Context`), and the small numpy helpers the
report, human and annotator figures share."""

from dataclasses import dataclass

import numpy as np

from annotation.models import Project

from .data import Scale, scale_of
from .stats import LEVELS, missing


def default_level(scale: Scale) -> str:
    """Ordinal for graded scales; with two labels every level gives the same α."""
    return "ordinal" if scale.size > 2 else "nominal"


@dataclass(frozen=True)
class Context:
    scale: Scale
    level: str
    n_boot: int
    seed: int

    @property
    def kappa_metrics(self) -> tuple[str, ...]:
        return ("kappa", "weighted_kappa") if self.level != "nominal" else ("kappa",)

    def fill_weighted(self, figures: dict, n: int) -> dict:
        if self.level == "nominal":
            figures["weighted_kappa"] = missing(n, "weighted κ needs ordered labels; the level is nominal")
        return figures


def context_for(project: Project, level: str | None, n_boot: int, seed: int) -> Context:
    scale = scale_of(project)
    level = level or default_level(scale)
    if level not in LEVELS:
        raise ValueError(f"level of measurement must be one of {', '.join(LEVELS)}, got {level!r}")
    return Context(scale, level, n_boot, seed)


def one_hot(positions: np.ndarray, size: int) -> np.ndarray:
    """Rows of the identity; -1 (no label) gives a zero row."""
    eye = np.vstack([np.eye(size, dtype=np.int64), np.zeros((1, size), dtype=np.int64)])
    return eye[np.where(positions >= 0, positions, size)]


def cells(reference: np.ndarray, rated: np.ndarray, size: int) -> np.ndarray:
    """One confusion matrix per row, with a single 1 at (reference, rated)."""
    groups = np.zeros((len(reference), size, size))
    groups[np.arange(len(reference)), reference, rated] = 1
    return groups


def confusion_dict(matrix: np.ndarray, scale: Scale, rows: str, columns: str) -> dict:
    return {
        "rows": rows,
        "columns": columns,
        "values": [int(v) for v in scale.values],
        "names": list(scale.names),
        "matrix": np.rint(matrix).astype(int).tolist(),
    }
