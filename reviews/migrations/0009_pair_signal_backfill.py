"""The signals of the judgments written before the triggers (PostgreSQL only).

The SQL is frozen here as it was when this migration was written (the table's columns
then); the current version is reviews/pair_signal_sql.py."""

from django.db import migrations

BACKFILL = r"""INSERT INTO reviews_pairsignal (pair_id, project_id, query_id, product_id, judgment_id, judged_at, invalid, confidence, disagree, model, prompt_version, mode) 
SELECT DISTINCT ON (j.pair_id) j.pair_id, j.project_id, p.query_id, p.product_id, j.id, j.created_at,
       j.status = 'invalid', j.confidence,
       COALESCE(CASE WHEN jsonb_typeof(j.samples) = 'array'
                     THEN (SELECT count(DISTINCT e) FROM jsonb_array_elements(j.samples) e) > 1 END, false),
       j.model, j.prompt_version, j.mode
FROM judging_judgment j JOIN annotation_pair p ON p.id = j.pair_id
WHERE j.pair_id IN (SELECT pair_id FROM judging_judgment)
ORDER BY j.pair_id, j.created_at DESC, j.id DESC ON CONFLICT (pair_id) DO UPDATE SET project_id = EXCLUDED.project_id, query_id = EXCLUDED.query_id, product_id = EXCLUDED.product_id, judgment_id = EXCLUDED.judgment_id, judged_at = EXCLUDED.judged_at, invalid = EXCLUDED.invalid, confidence = EXCLUDED.confidence, disagree = EXCLUDED.disagree, model = EXCLUDED.model, prompt_version = EXCLUDED.prompt_version, mode = EXCLUDED.mode"""


def backfill(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKFILL)


class Migration(migrations.Migration):
    dependencies = [("reviews", "0008_pair_signal_triggers")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
