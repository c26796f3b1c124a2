"""Agreement between the LLM and humans, and among humans (issue 5).

- `project_agreement_summary(project)`: the main figures for the dashboard, the
  `agreement` command and the API.
- `agreement_by_segment(project, by)`: the same per tag, category, locale, routing
  reason, gold label, LLM model, prompt version or mode.
- `annotator_agreement(project)`: per annotator, vs the LLM and vs the other humans,
  by position in the day (fatigue).
- `human_pairwise_agreement(project)`: κ of every pair of human raters.
- `reliability_matrix(project)` and `alpha(matrix, …)`: the raw building blocks.

Pages and the API read these through one cache (reviews/dashboard/snapshot.py): a fresh
summary of a million labels takes seconds.

Figures are computed from aggregated rows (`data`) with numpy (`stats`); α comes from
the `krippendorff` package, always with an explicit level of measurement.
"""

import numpy as np

from .annotators import annotator_agreement
from .context import default_level
from .data import LLM_RATER, ReliabilityMatrix, Scale, reliability_matrix, scale_of
from .humans import human_pairwise_agreement
from .report import BY_CHOICES, agreement_by_segment, project_agreement_summary, segment_name
from .stats import LEVELS, N_BOOT, SEED, alpha_figure, kappa


def alpha(matrix: ReliabilityMatrix, *, domain, level: str, n_boot: int = N_BOOT, seed: int = SEED) -> dict:
    """Krippendorff's α of a reliability matrix (a figure dict with CI and n)."""
    domain = np.asarray(domain)
    counts, weights = np.unique(matrix.value_counts(domain), axis=0, return_counts=True)
    if counts.size == 0:
        counts = np.zeros((0, domain.size), dtype=np.int64)
    return alpha_figure(
        counts, weights, domain=domain, level=level, n_raters=len(matrix.raters), n_boot=n_boot, seed=seed
    )


__all__ = [
    "BY_CHOICES",
    "LEVELS",
    "LLM_RATER",
    "ReliabilityMatrix",
    "Scale",
    "agreement_by_segment",
    "alpha",
    "annotator_agreement",
    "default_level",
    "human_pairwise_agreement",
    "kappa",
    "project_agreement_summary",
    "reliability_matrix",
    "scale_of",
    "segment_name",
]
