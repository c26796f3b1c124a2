"""The SQL that keeps reviews_pairsignal (models.PairSignal) in step with judgments on
PostgreSQL: statement-level triggers on judging_judgment, so an insert of a thousand
judgments refreshes their pairs' rows in one statement, in the writer's transaction;
and one on annotation_pair that keeps `auto_accepted` (the pair's gold is the LLM's,
provenance llm-auto), so a what-if preview reads the auto-accepted pairs' signals in one
scan of this table instead of joining a million pairs (reviews/services/reroute_sql.py).
Installed by migration 0015 (0008/0009 keep the first version, frozen)."""

# The newest judgment of each pair in `{pairs}` (a subquery of pair ids), as decide()
# reads it: newest by created_at, then id; samples that hold two distinct values disagree.
NEWEST = """
SELECT DISTINCT ON (j.pair_id) j.pair_id, j.project_id, p.query_id, p.product_id, j.id, j.created_at,
       j.status = 'invalid', j.confidence,
       COALESCE(CASE WHEN jsonb_typeof(j.samples) = 'array'
                     THEN (SELECT count(DISTINCT e) FROM jsonb_array_elements(j.samples) e) > 1 END, false),
       j.model, j.prompt_version, j.mode, p.gold_provenance = 'llm-auto'
FROM judging_judgment j JOIN annotation_pair p ON p.id = j.pair_id
WHERE j.pair_id IN ({pairs})
ORDER BY j.pair_id, j.created_at DESC, j.id DESC"""

COLUMNS = (
    "pair_id, project_id, query_id, product_id, judgment_id, judged_at, invalid, confidence, disagree, model,"
    " prompt_version, mode, auto_accepted"
)
# A new judgment of a pair that has signals leaves auto_accepted alone: it does not change
# the pair's gold, and the pair trigger below is what follows the gold. (Reading the pair
# here could see its gold as of before a concurrent routing committed.)
_SET = ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS.replace(" ", "").split(",")[1:] if c != "auto_accepted")

UPSERT = f"INSERT INTO reviews_pairsignal ({COLUMNS}) {NEWEST} ON CONFLICT (pair_id) DO UPDATE SET {_SET}"
# An insert only ever makes a pair's signals newer: the guard keeps two concurrent
# writers from leaving the older of their judgments in place.
UPSERT_NEWER = UPSERT + (
    " WHERE (EXCLUDED.judged_at, EXCLUDED.judgment_id) >= (reviews_pairsignal.judged_at, reviews_pairsignal.judgment_id)"
)

FUNCTION = f"""
CREATE OR REPLACE FUNCTION reviews_pairsignal_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {UPSERT_NEWER.format(pairs="SELECT pair_id FROM new_rows")};
    ELSE
        -- An update or delete may take away the newest judgment: recompute from those left.
        DELETE FROM reviews_pairsignal WHERE pair_id IN (SELECT pair_id FROM old_rows);
        IF TG_OP = 'UPDATE' THEN
            {UPSERT.format(pairs="SELECT pair_id FROM old_rows UNION SELECT pair_id FROM new_rows")};
        ELSE
            {UPSERT.format(pairs="SELECT pair_id FROM old_rows")};
        END IF;
    END IF;
    RETURN NULL;
END $$;
"""

TRIGGERS = """
CREATE TRIGGER reviews_pairsignal_insert AFTER INSERT ON judging_judgment
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION reviews_pairsignal_sync();
CREATE TRIGGER reviews_pairsignal_update AFTER UPDATE ON judging_judgment
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION reviews_pairsignal_sync();
CREATE TRIGGER reviews_pairsignal_delete AFTER DELETE ON judging_judgment
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION reviews_pairsignal_sync();
"""

# Gold moves to or from llm-auto by UPDATEs of annotation_pair (routing, rerouting, a
# reviewer's label resolving gold): set the flag where it differs from the new gold. Only
# the new rows are read: a join of the old and new transition tables is planned on their
# unknown size (one row) as a nested loop, quadratic in the rows updated (2.7 s for a
# reroute batch of 4,454 pairs), where each new row's one index probe of the signals is
# linear. A pair is inserted without gold, so inserts need nothing; its signals go with it.
AUTO_FUNCTION = """
CREATE OR REPLACE FUNCTION reviews_pairsignal_auto() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE reviews_pairsignal s SET auto_accepted = (n.gold_provenance = 'llm-auto')
    FROM new_pairs n
    WHERE s.pair_id = n.id AND s.auto_accepted <> (n.gold_provenance = 'llm-auto');
    RETURN NULL;
END $$;
"""

AUTO_TRIGGER = """
CREATE TRIGGER reviews_pairsignal_auto AFTER UPDATE ON annotation_pair
    REFERENCING NEW TABLE AS new_pairs FOR EACH STATEMENT
    EXECUTE FUNCTION reviews_pairsignal_auto();
"""

AUTO_DROP = """
DROP TRIGGER IF EXISTS reviews_pairsignal_auto ON annotation_pair;
DROP FUNCTION IF EXISTS reviews_pairsignal_auto();
"""

AUTO_BACKFILL = """
UPDATE reviews_pairsignal s SET auto_accepted = true
FROM annotation_pair p WHERE p.id = s.pair_id AND p.gold_provenance = 'llm-auto'
"""

DROP = """
DROP TRIGGER IF EXISTS reviews_pairsignal_insert ON judging_judgment;
DROP TRIGGER IF EXISTS reviews_pairsignal_update ON judging_judgment;
DROP TRIGGER IF EXISTS reviews_pairsignal_delete ON judging_judgment;
DROP FUNCTION IF EXISTS reviews_pairsignal_sync();
"""

BACKFILL = UPSERT.format(pairs="SELECT pair_id FROM judging_judgment")
