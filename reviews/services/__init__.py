"""The hybrid policy in action, one module per topic (import from the module itself):

- `policies`: policy versions (the current one, a cached read of any) and saving a change;
- `route`: routing judged pairs to gold (llm-auto) or to review tasks;
- `reroute`: what a draft policy would move, moving it as a resumable job of batches,
  `policy_change` (a new version and its rerouting: in one transaction for a small
  project, else by a worker) and `policy_revert`; `reroute_sql` holds its PostgreSQL
  statements;
- `queue`: claiming tasks under a lease; submit, skip, flag, undo; a lead's answer to a flag;
- `flag_actions`: a lead sends a flagged pair to adjudication or overrides its gold;
- `gold`: gold from human labels and adjudications;
- `evaluate`: "evaluate run R" and where a run's pairs stand;
- `errors`: `ReviewError`, a refused state change.
"""
