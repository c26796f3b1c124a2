"""Exports: gold labels (CSV, JSONL, TREC qrels), all labels (JSONL), a run (TREC run).

Every export is streamed: the function checks what it can up front (so a bad request
fails before the first byte), then returns a generator of text blocks, each made of
whole lines, that reads nothing until it is iterated. Rows come through server-side
cursors (`.iterator(chunk_size=…)`, or on PostgreSQL a COPY stream), so memory stays flat
whatever the size. Hand the generator to a file (`write_file`), stdout or a
StreamingHttpResponse, and consume it in one go: it holds a transaction open meanwhile.

CSV cells are safe to open in a spreadsheet: a text cell starting with =, +, -, @, a tab
or a carriage return gets a leading single quote, so it is shown as text rather than run
as a formula. This applies to every text cell, ids included (a query id "-12" is written
"'-12"), but not to the numbers qrelay writes itself (label values, policy versions):
those are written as numbers, and a spreadsheet never runs a number.
JSONL and TREC files are for programs, not spreadsheets, and are written unchanged.

The LLM prompt version of a label lives in `judging`, which `annotation` does not import;
callers that know it pass it in through `ExtraColumns`.
"""

from .csv_safety import neutralise
from .gold import (
    GOLD_COLUMNS,
    GOLD_FORMATS,
    HUMAN_PROVENANCES,
    GoldFilter,
    export_gold,
    export_gold_csv,
    export_gold_jsonl,
    export_gold_qrels,
    gold_table,
)
from .labels import LABEL_COLUMNS, export_labels_jsonl, labels_table
from .streaming import csv_blocks, jsonl_blocks, write_file
from .tables import CHUNK, ExportError, ExtraColumns, Table
from .trec import export_run_trec

__all__ = [
    "CHUNK",
    "GOLD_COLUMNS",
    "GOLD_FORMATS",
    "HUMAN_PROVENANCES",
    "LABEL_COLUMNS",
    "ExportError",
    "ExtraColumns",
    "GoldFilter",
    "Table",
    "csv_blocks",
    "export_gold",
    "export_gold_csv",
    "export_gold_jsonl",
    "export_gold_qrels",
    "export_labels_jsonl",
    "export_run_trec",
    "gold_table",
    "jsonl_blocks",
    "labels_table",
    "neutralise",
    "write_file",
]
