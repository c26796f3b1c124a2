"""From evidence to probabilities: the offline judge's fitted constants.

The judge reduces a pair to two numbers: `similarity`, the cosine of the query's and the
product's WordLlama embeddings (semantic.py), and `match`, the importance-weighted share
of the guideline's requirements the product meets (checks.py). Their weighted sum is the
pair's relevance score, and two logistic curves of that one score give the probabilities
the label and its confidence come from:

    P(relevant)               = σ(relevant_slope · (score − relevant_centre))
    P(exact match | relevant) = σ(exact_slope · (score − exact_centre))

"Relevant" is ESCI's Exact or Substitute, "exact" is Exact. The decisive rules (the
product has what the query excludes, is another type, is by another brand, is a related
type) skip the curves; their confidence is how often they were right.

Everything in FITTED was fitted by `bench/fit_offline_judge.py` on
/work/shared/data/esci-calibration.csv (200 real ESCI pairs: 138 Exact, 49 Substitute,
12 Irrelevant, 1 Complement) and copied here; rerun it to refit. Three choices are made,
not fitted, because 13 irrelevant pairs cannot support more:
- the score weighs the two signals equally: each weight is 1 / the signal's standard
  deviation over the file. The similarity ranks ESCI pairs better, but only the rules
  read German (bench/fit_offline_judge.py, MATCH_SHARE, has the figures); cross-validated,
  fitting the two weights did worse;
- the file is 94% relevant, a share no judging workload can be assumed to have, so the
  relevant/irrelevant curve is fitted with both sides weighted equally: before looking,
  the judge gives a result even odds of being relevant, and its confidence is calibrated
  for that. On a sample as skewed as the file it says "irrelevant" more often than the
  file's labels do (docs/offline-judge.md has the figures);
- a rule's confidence is (right + 1) / (fired + 2), as each fired on a handful of pairs;
  the three that make a product irrelevant are one kind of evidence (a hard violation the
  lexicon found) and share one record: 4 right of 5.
"""

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Grades:
    """Probabilities of the three grades every scale is mapped from (they sum to 1)."""

    irrelevant: float
    partial: float
    exact: float

    @property
    def relevant(self) -> float:
        return self.partial + self.exact


@dataclass(frozen=True)
class Calibration:
    similarity_weight: float
    match_weight: float
    relevant_slope: float
    relevant_centre: float
    exact_slope: float
    exact_centre: float
    # How often each decisive rule's label was right.
    rules: dict[str, float] = field(default_factory=dict)
    # Share of Substitutes among the relevant pairs whose product states another value
    # than asked (another colour, gender, brand…).
    conflict_partial: float = 0.5

    def score(self, *, similarity: float, match: float) -> float:
        return self.similarity_weight * similarity + self.match_weight * match

    def grades(self, score: float) -> Grades:
        relevant = _sigmoid(self.relevant_slope * (score - self.relevant_centre))
        exact = _sigmoid(self.exact_slope * (score - self.exact_centre))
        return Grades(irrelevant=1.0 - relevant, partial=relevant * (1.0 - exact), exact=relevant * exact)


# Fitted by bench/fit_offline_judge.py on /work/shared/data/esci-calibration.csv.
FITTED = Calibration(
    similarity_weight=6.12,
    match_weight=3.48,
    relevant_slope=0.769,
    relevant_centre=3.83,
    exact_slope=0.489,
    exact_centre=2.43,
    rules={"negation": 0.71, "type": 0.71, "brand": 0.71, "related": 0.5},
    conflict_partial=0.67,
)


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)
