"""One rule for metadata values: as CellProfiler's LoadData types them and its `-g` matches them.

CellProfiler 4.2.8 (cellprofiler_core/modules/loaddata.py, LoadData.get_measurement_columns
and prepare_run) types each CSV column over all its rows: integer while every value is a
32-bit int, else float while every value parses as one, else text; its `-g` then compares
the command line's text with str() of the typed values (Measurements.get_groupings,
Pipeline.run). So `-g Metadata_Site=2` runs the row written 002, and `=002` runs nothing.

Both sides use this module: the worker picks an input list's rows for a job by it
(worker/listing.py), and makeJobs writes the values of the fields matched that way in the
form they are matched in (`002` in an integer column is written `2`), so a Job file it
writes selects, in the worker and in CellProfiler alike, the very rows it was made from.
"""

from __future__ import annotations

from collections.abc import Iterable

INT32 = (-(2**31), 2**31 - 1)
# CellProfiler's is_well_column_token: a Metadata_<token> column is always text.
WELL_COLUMN_TOKENS = frozenset({"wellcol", "well_col", "wellcolumn", "well_column", "column", "col"})


def value_kind(text: str | None) -> str:
    """CellProfiler's get_loaddata_type: 'int', 'float' or 'text' (int() and float() as Python reads them)."""
    text = text or ""
    try:
        number = int(text)
    except ValueError:
        try:
            float(text)
        except ValueError:
            return "text"
        return "float"
    return "int" if INT32[0] <= number <= INT32[1] else "text"


def column_kind(name: str, values: Iterable[str | None]) -> str:
    """The type CellProfiler gives a column named `name` of these values: the widest of their kinds."""
    category, _, feature = name.partition("_")
    if category == "Metadata" and feature.split("_")[0].lower() in WELL_COLUMN_TOKENS:
        return "text"
    kinds = {value_kind(value) for value in values}
    return "text" if "text" in kinds else "float" if "float" in kinds else "int"


def measured_text(text: str | None, kind: str) -> str:
    """A value as CellProfiler's groups show it: `002` in an integer column is `2`, `2.50` a float's `2.5`."""
    text = text or ""
    return str(int(text)) if kind == "int" else str(float(text)) if kind == "float" else text
