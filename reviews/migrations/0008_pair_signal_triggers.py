"""Triggers that keep reviews_pairsignal in step with judgments (PostgreSQL only).

The SQL is frozen here as it was when this migration was written; the current version
is reviews/pair_signal_sql.py (installed by later migrations)."""

from django.db import migrations

FUNCTION = r"""
CREATE OR REPLACE FUNCTION reviews_pairsignal_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO reviews_pairsignal (pair_id, project_id, query_id, product_id, judgment_id, judged_at, invalid, confidence, disagree, model, prompt_version, mode) 
SELECT DISTINCT ON (j.pair_id) j.pair_id, j.project_id, p.query_id, p.product_id, j.id, j.created_at,
       j.status = 'invalid', j.confidence,
       COALESCE(CASE WHEN jsonb_typeof(j.samples) = 'array'
                     THEN (SELECT count(DISTINCT e) FROM jsonb_array_elements(j.samples) e) > 1 END, false),
       j.model, j.prompt_version, j.mode
FROM judging_judgment j JOIN annotation_pair p ON p.id = j.pair_id
WHERE j.pair_id IN (SELECT pair_id FROM new_rows)
ORDER BY j.pair_id, j.created_at DESC, j.id DESC ON CONFLICT (pair_id) DO UPDATE SET project_id = EXCLUDED.project_id, query_id = EXCLUDED.query_id, product_id = EXCLUDED.product_id, judgment_id = EXCLUDED.judgment_id, judged_at = EXCLUDED.judged_at, invalid = EXCLUDED.invalid, confidence = EXCLUDED.confidence, disagree = EXCLUDED.disagree, model = EXCLUDED.model, prompt_version = EXCLUDED.prompt_version, mode = EXCLUDED.mode WHERE (EXCLUDED.judged_at, EXCLUDED.judgment_id) >= (reviews_pairsignal.judged_at, reviews_pairsignal.judgment_id);
    ELSE
        -- An update or delete may take away the newest judgment: recompute from those left.
        DELETE FROM reviews_pairsignal WHERE pair_id IN (SELECT pair_id FROM old_rows);
        IF TG_OP = 'UPDATE' THEN
            INSERT INTO reviews_pairsignal (pair_id, project_id, query_id, product_id, judgment_id, judged_at, invalid, confidence, disagree, model, prompt_version, mode) 
SELECT DISTINCT ON (j.pair_id) j.pair_id, j.project_id, p.query_id, p.product_id, j.id, j.created_at,
       j.status = 'invalid', j.confidence,
       COALESCE(CASE WHEN jsonb_typeof(j.samples) = 'array'
                     THEN (SELECT count(DISTINCT e) FROM jsonb_array_elements(j.samples) e) > 1 END, false),
       j.model, j.prompt_version, j.mode
FROM judging_judgment j JOIN annotation_pair p ON p.id = j.pair_id
WHERE j.pair_id IN (SELECT pair_id FROM old_rows UNION SELECT pair_id FROM new_rows)
ORDER BY j.pair_id, j.created_at DESC, j.id DESC ON CONFLICT (pair_id) DO UPDATE SET project_id = EXCLUDED.project_id, query_id = EXCLUDED.query_id, product_id = EXCLUDED.product_id, judgment_id = EXCLUDED.judgment_id, judged_at = EXCLUDED.judged_at, invalid = EXCLUDED.invalid, confidence = EXCLUDED.confidence, disagree = EXCLUDED.disagree, model = EXCLUDED.model, prompt_version = EXCLUDED.prompt_version, mode = EXCLUDED.mode;
        ELSE
            INSERT INTO reviews_pairsignal (pair_id, project_id, query_id, product_id, judgment_id, judged_at, invalid, confidence, disagree, model, prompt_version, mode) 
SELECT DISTINCT ON (j.pair_id) j.pair_id, j.project_id, p.query_id, p.product_id, j.id, j.created_at,
       j.status = 'invalid', j.confidence,
       COALESCE(CASE WHEN jsonb_typeof(j.samples) = 'array'
                     THEN (SELECT count(DISTINCT e) FROM jsonb_array_elements(j.samples) e) > 1 END, false),
       j.model, j.prompt_version, j.mode
FROM judging_judgment j JOIN annotation_pair p ON p.id = j.pair_id
WHERE j.pair_id IN (SELECT pair_id FROM old_rows)
ORDER BY j.pair_id, j.created_at DESC, j.id DESC ON CONFLICT (pair_id) DO UPDATE SET project_id = EXCLUDED.project_id, query_id = EXCLUDED.query_id, product_id = EXCLUDED.product_id, judgment_id = EXCLUDED.judgment_id, judged_at = EXCLUDED.judged_at, invalid = EXCLUDED.invalid, confidence = EXCLUDED.confidence, disagree = EXCLUDED.disagree, model = EXCLUDED.model, prompt_version = EXCLUDED.prompt_version, mode = EXCLUDED.mode;
        END IF;
    END IF;
    RETURN NULL;
END $$;
"""

TRIGGERS = r"""
CREATE TRIGGER reviews_pairsignal_insert AFTER INSERT ON judging_judgment
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION reviews_pairsignal_sync();
CREATE TRIGGER reviews_pairsignal_update AFTER UPDATE ON judging_judgment
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION reviews_pairsignal_sync();
CREATE TRIGGER reviews_pairsignal_delete AFTER DELETE ON judging_judgment
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION reviews_pairsignal_sync();
"""

DROP = r"""
DROP TRIGGER IF EXISTS reviews_pairsignal_insert ON judging_judgment;
DROP TRIGGER IF EXISTS reviews_pairsignal_update ON judging_judgment;
DROP TRIGGER IF EXISTS reviews_pairsignal_delete ON judging_judgment;
DROP FUNCTION IF EXISTS reviews_pairsignal_sync();
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION)
        schema_editor.execute(TRIGGERS)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("judging", "0005_endpoint_settings_and_failure_reasons"),
        ("reviews", "0007_pair_signal"),
    ]

    operations = [migrations.RunPython(create, drop)]
