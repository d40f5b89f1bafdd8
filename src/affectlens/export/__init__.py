"""Results → records (JSON-ready dicts) → tables (pandas, CSV, JSONL, Parquet)."""

from affectlens.export.table import (
    SCHEMA_VERSION,
    image_records,
    records_to_frame,
    to_dataframe,
    write_table,
)

__all__ = ["SCHEMA_VERSION", "image_records", "records_to_frame", "to_dataframe", "write_table"]
