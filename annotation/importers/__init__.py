"""File importers: read CSV / JSONL / TREC files, validate every row, then write in bulk.

Every importer validates the whole file before it writes anything, so bad input leaves
the database unchanged; the writes happen in one transaction with bulk operations. Files
are read as a stream and, on PostgreSQL, staged in a temporary table (staging.py), so an
import's memory does not grow with the file. Large uploads run as ImportJobs (jobs.py).
"""

from .catalogue import products_import, queries_import
from .errors import ImportFailed, ImportProblem
from .pairs import labels_import, run_import

__all__ = ["ImportFailed", "ImportProblem", "labels_import", "products_import", "queries_import", "run_import"]
