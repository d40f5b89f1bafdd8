"""Results → records (JSON-ready dicts) → tables (pandas, CSV, JSONL, Parquet)."""

from affectlens.export.records import records_of, to_dataframe
from affectlens.export.table import (
    SCHEMA_VERSION,
    image_records,
    records_to_frame,
    write_table,
)
from affectlens.export.text import text_records, text_records_to_frame

__all__ = [
    "SCHEMA_VERSION",
    "image_records",
    "records_of",
    "records_to_frame",
    "text_records",
    "text_records_to_frame",
    "to_dataframe",
    "write_table",
]
