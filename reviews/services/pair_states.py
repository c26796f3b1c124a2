"""Where each pair of a run stands, one state per pair, so a page can say "12 not judged,
113 waiting for reviewers" instead of "125 holes", and offer to judge only the pairs that
truly lack a judgment.

The states, in the order a pair's first matching one wins:
- `gold`: the pair has a gold value (any provenance);
- `waiting`: a review task is open or claimed (judged; a person settles it);
- `flagged`: a reviewer flagged its task and a lead has not answered yet;
- `dropped`: a lead dropped its task (the pair cannot be labelled);
- `judged`: a valid judgment from the project's current model, mode and prompt (cached
  ones included) but neither gold nor a task: routing has not seen it yet;
- `failed`: the newest judgment from the current model is failed or invalid;
- `not_judged`: no judgment from the current model at all.

Only `failed` and `not_judged` are worth an LLM call: judging any other pair again
answers from the cache and changes nothing (the bug of issue #14's "113 cached").
"""

from dataclasses import dataclass, field

from django.db.models import F, Window
from django.db.models.functions import RowNumber

from annotation.metrics.sql import result_order
from annotation.models import Pair, SearchResult, SearchRun
from judging import prompts
from judging.models import Judgment
from judging.services import judge_config_for, models_for

from ..models import ReviewTask

STATES = ("not_judged", "failed", "judged", "waiting", "flagged", "dropped", "gold")
STATE_TITLES = {
    "not_judged": "not judged",
    "failed": "judging failed",
    "judged": "judged, not routed yet",
    "waiting": "judged, waiting for reviewers",
    "flagged": "flagged by a reviewer",
    "dropped": "dropped by a lead",
    "gold": "gold",
}
# Which pairs a judge job should take: they lack a valid judgment.
TO_JUDGE = ("not_judged", "failed")
BATCH = 5000


@dataclass
class PairStates:
    k: int | None
    ids: dict[str, list[int]] = field(default_factory=lambda: {state: [] for state in STATES})

    @property
    def total(self) -> int:
        return sum(len(ids) for ids in self.ids.values())

    def count(self, state: str) -> int:
        return len(self.ids[state])

    @property
    def to_judge(self) -> list[int]:
        return sorted(pair_id for state in TO_JUDGE for pair_id in self.ids[state])

    def rows(self) -> list[dict]:
        """The non-empty states with their titles and counts, in pipeline order."""
        return [
            {"state": state, "title": STATE_TITLES[state], "count": len(self.ids[state])}
            for state in STATES
            if self.ids[state]
        ]

    def counts(self) -> dict[str, int]:
        return {state: len(ids) for state, ids in self.ids.items()}


def scope_pair_ids(run: SearchRun, k: int | None = None) -> list[int]:
    """The run's pairs, or those in the top k of their query (positions as the metrics
    count them: annotation.metrics.sql.result_order)."""
    results = SearchResult.objects.filter(run=run)
    if k is not None:
        ranked = results.annotate(pos=Window(RowNumber(), partition_by=[F("query_id")], order_by=result_order()))
        return sorted({pair_id for pair_id, pos in ranked.values_list("pair_id", "pos") if pos <= k})
    return sorted(set(results.values_list("pair_id", flat=True)))


def _latest_judgment_status(run: SearchRun, ids: list[int]) -> dict[int, str]:
    """{pair id: status of its newest judgment from the current model, mode and prompt}
    (judging.jobs.judged_pair_ids reads the same rows to skip judged pairs)."""
    config = judge_config_for(run.project)
    model = models_for(config)["judge"]
    latest: dict[int, str] = {}
    for start in range(0, len(ids), BATCH):
        rows = (
            Judgment.objects.filter(
                pair_id__in=ids[start : start + BATCH],
                model=model,
                mode=config.mode,
                prompt_version=prompts.JUDGMENT_VERSION,
            )
            .order_by("pair_id", "-created_at", "-id")
            .values_list("pair_id", "status")
        )
        for pair_id, status in rows:
            latest.setdefault(pair_id, status)
    return latest


def _task_states(ids: list[int]) -> dict[int, str]:
    """{pair id: the state its review tasks put it in}, live tasks before flags before drops."""
    rank = {"waiting": 0, "flagged": 1, "dropped": 2}
    by_status: dict[str, str] = {
        ReviewTask.Status.OPEN: "waiting",
        ReviewTask.Status.CLAIMED: "waiting",
        ReviewTask.Status.FLAGGED: "flagged",
        ReviewTask.Status.DROPPED: "dropped",
    }
    states: dict[int, str] = {}
    for start in range(0, len(ids), BATCH):
        rows = ReviewTask.objects.filter(pair_id__in=ids[start : start + BATCH], status__in=list(by_status))
        for pair_id, status in rows.values_list("pair_id", "status"):
            state = by_status[status]
            if pair_id not in states or rank[state] < rank[states[pair_id]]:
                states[pair_id] = state
    return states


def run_pair_states(run: SearchRun, *, k: int | None = None) -> PairStates:
    """Every pair of the run (or of its top k) in exactly one state."""
    ids = scope_pair_ids(run, k)
    gold: set[int] = set()
    for start in range(0, len(ids), BATCH):
        gold.update(
            Pair.objects.filter(id__in=ids[start : start + BATCH], gold_value__isnull=False).values_list(
                "id", flat=True
            )
        )
    tasks = _task_states(ids)
    judgments = _latest_judgment_status(run, ids)
    states = PairStates(k=k)
    for pair_id in ids:
        if pair_id in gold:
            state = "gold"
        elif pair_id in tasks:
            state = tasks[pair_id]
        elif pair_id not in judgments:
            state = "not_judged"
        elif judgments[pair_id] == Judgment.Status.OK:
            state = "judged"
        else:
            state = "failed"
        states.ids[state].append(pair_id)
    return states
