from annotation.importers import queries_import

from ._base import ImportCommand


class Command(ImportCommand):
    help = """Import or update a project's queries from CSV (header row) or JSONL.

Columns: query_id, query (required); locale (e.g. de-DE), traffic (a whole number: how
often the query is searched; it weights review priority). Aliases: qid for query_id,
text/query_text for query, count/frequency for traffic.
Re-importing the same file changes nothing; a changed row updates the query."""

    def run_import(self, project, options):
        return queries_import(project=project, path=options["file"], fmt=options["format"])
