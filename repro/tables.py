"""Table machinery every table contract uses: strict, coercing pandera models, lazy validation that reports
every failure at once (:func:`validate`), the description of a family's prediction table, and the base curve.

The pipeline's own tables live in :mod:`repro.schemas`; each family's in ``repro/families/<name>/schemas.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series


class TableError(ValueError):
    """A table failed its schema; ``cases`` holds pandera's failure cases (all of them)."""

    def __init__(self, table: str, cases: pd.DataFrame):
        self.table = table
        self.cases = cases
        lines = []
        for row in cases.head(20).itertuples(index=False):
            lines.append(
                f"    column {row.column!s}: check {row.check!s} failed on {row.failure_case!r} (index {row.index})"
            )
        more = f"\n    ... and {len(cases) - 20} more" if len(cases) > 20 else ""
        super().__init__(f"table {table!r} fails its schema ({len(cases)} failure(s)):\n" + "\n".join(lines) + more)


def validate(model: type[pa.DataFrameModel], df: pd.DataFrame, table: str) -> pd.DataFrame:
    """Validate lazily; raise :class:`TableError` listing every failure."""
    try:
        return model.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        raise TableError(table, exc.failure_cases) from None


class Strict(pa.DataFrameModel):
    class Config:
        strict = True
        coerce = True


@dataclass(frozen=True)
class PredictionTable:
    """A family's prediction table: its schema, the columns that identify an item's input, and the
    columns that hold the model's outputs (the input-dependence integrity check reads these)."""

    schema: type[pa.DataFrameModel]
    input_columns: tuple[str, ...]
    output_columns: tuple[str, ...]


# ------------------------------------------------------------------ shared tables


class Curve(Strict):
    """Training curve: one row per logged step. Families extend it with their columns."""

    step: Series[int] = pa.Field(ge=0)

    @pa.dataframe_check
    def steps_increase(cls, df: pd.DataFrame) -> bool:
        return bool(df["step"].is_monotonic_increasing and df["step"].is_unique)
