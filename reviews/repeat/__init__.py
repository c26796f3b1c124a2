"""Retrieve and repeat: schedules that re-fetch a run from a search engine, judge and route
its new pairs, and record its metrics with a regression flag.

- `services`: the cycle of a schedule (start, fetch, evaluate, finalize) and the beat's work;
- `views`, `forms`, `urls`: the lead's page of connectors, schedules and metric history
  (URL names `repeat:…`). The Celery tasks are in reviews/tasks.py under their old names.
"""
