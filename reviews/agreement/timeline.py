"""Figures for the dashboard's charts: LLM–human agreement week by week, and how often
each label occurs per source. Aggregated in the database like the rest of `agreement`."""

from django.utils import timezone

from annotation.models import Project

from . import data
from .data import _NOT_ADJUDICATION, LABEL, PAIR, _fetch, _llm_latest, adjudication_labels, scale_of
from .tallies import tallies

_HUMAN_LATEST_DATED = f"""
    SELECT DISTINCT ON (pair_id, rater) pair_id, rater, value, created_at
    FROM {LABEL} l WHERE project_id = %(project)s AND source = 'human' AND {_NOT_ADJUDICATION}
    ORDER BY pair_id DESC, rater DESC, id DESC"""


def agreement_over_time(project: Project) -> list[dict]:
    """Per week of the human label (the latest of each rater and pair): how many human
    labels had an LLM label to compare with and the share that matched it exactly.
    [{"week": "2025-03-03", "n": 120, "agreement": 0.8}, …], oldest first."""
    if data.USE_TALLIES:
        weeks: dict[str, list[int]] = {}
        for _, (week, matched), n in tallies(project, "week"):
            weeks.setdefault(week, [0, 0])[int(matched)] += n
        return [{"week": week, "n": sum(n), "agreement": n[1] / sum(n)} for week, n in sorted(weeks.items()) if sum(n)]
    sql = f"""
        WITH hum AS MATERIALIZED ({_HUMAN_LATEST_DATED}),
        llm AS ({_llm_latest("SELECT pair_id FROM hum")})
        SELECT date_trunc('week', hum.created_at AT TIME ZONE %(tz)s)::date AS week, count(*),
               count(*) FILTER (WHERE hum.value = llm.value)
        FROM hum JOIN llm ON llm.pair_id = hum.pair_id
        GROUP BY 1 ORDER BY 1"""
    params = {
        "project": project.id,
        "adjudication": adjudication_labels(project),
        "tz": timezone.get_current_timezone_name(),
    }
    return [
        {"week": week.isoformat(), "n": int(n), "agreement": matched / n}
        for week, n, matched in _fetch(sql, params)
        if n
    ]


def label_distribution(project: Project) -> dict:
    """How often each label of the scale occurs: the LLM's latest label per pair, every
    human rater's latest label per pair, and gold by who settled it.
    {"names": [...], "values": [...], "sources": [{"source": "LLM", "counts": [...]}, …]}."""
    scale = scale_of(project)
    sql = f"""
        SELECT 'llm', value, count(*) FROM ({_llm_latest(f"SELECT id FROM {PAIR} WHERE project_id = %(project)s")}) x
        GROUP BY value
        UNION ALL
        SELECT 'human', value, count(*) FROM ({_HUMAN_LATEST_DATED}) h GROUP BY value
        UNION ALL
        SELECT 'gold:' || gold_provenance, gold_value, count(*) FROM {PAIR}
        WHERE project_id = %(project)s AND gold_value IS NOT NULL GROUP BY 1, 2"""
    if data.USE_TALLIES:
        rows = [(key[0], int(key[1]), n) for _, key, n in tallies(project, "dist")]
    else:
        rows = _fetch(sql, {"project": project.id, "adjudication": adjudication_labels(project)})
    position = {int(v): i for i, v in enumerate(scale.values)}
    names = {"llm": "LLM", "human": "Humans", "gold:llm-auto": "Gold (LLM auto)", "gold:human": "Gold (human)"}
    names |= {"gold:adjudicated": "Gold (adjudicated)", "gold:imported": "Gold (imported)"}
    counts: dict[str, list[int]] = {}
    for source, value, n in rows:
        if value is None or int(value) not in position:
            continue
        counts.setdefault(source, [0] * scale.size)[position[int(value)]] += int(n)
    order = ["llm", "human", "gold:llm-auto", "gold:human", "gold:adjudicated", "gold:imported"]
    return {
        "names": list(scale.names),
        "values": [int(v) for v in scale.values],
        "sources": [{"source": names.get(key, key), "counts": counts[key]} for key in order if key in counts],
    }
