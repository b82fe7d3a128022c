"""Step 2 — define what you will measure: the KPI catalogue from config/kpis.yaml.

The file is validated when it is loaded — every expression against the canonical schema in a
sandbox — so a broken definition never reaches this asset. Each KPI is stored with its formula,
attribution rule, counting unit, the tables and fields it needs and the version (content hash)
that every value computed from it records.
"""

from __future__ import annotations

import dagster as dg
import pandas as pd

from assets.common import OWNER, content_version, replace_table, table_metadata
from assets.kpi_coverage import needs
from assets.kpi_sql import kpi_version, reads
from resources.settings import kpis
from resources.warehouse import Warehouse

GROUP = "step2_measures"


def catalogue_frame() -> pd.DataFrame:
    """One row per KPI of config/kpis.yaml, with everything the later steps need to know."""
    return pd.DataFrame([
        {
            "kpi_id": k.id,
            "name": k.name,
            "description": k.description,
            "unit": k.unit,
            "direction": k.direction,
            "kind": k.kind,
            "aggregate": k.aggregate,
            "rollup": k.rollup,
            "source_table": k.table,
            "reads": ", ".join(reads(k)),
            "fields": ", ".join(needs(k).fields),
            "formula": k.formula,
            "breakdowns": ", ".join(k.breakdowns),
            "target": k.target,
            "warning": k.warning,
            "objectives": ", ".join(k.objectives),
            "owner": k.owner,
            "attribution": k.attribution,
            "counting_unit": k.counting_unit,
            "kpi_version": kpi_version(k),
            "definition": k.model_dump_json(),
        }
        for k in kpis().kpis
    ])


@dg.asset(
    key=["measures", "kpi_catalogue"],
    group_name=GROUP,
    kinds={"duckdb", "yaml"},
    owners=[OWNER],
    pool="duckdb_warehouse",
    deps=[dg.AssetKey(["strategy", "targets"])],
    description="The KPI catalogue: definition, formula, unit, direction, aggregation, target, "
    "thresholds, objectives served, attribution rule, counting unit, tables and fields read and "
    "the version hash of each KPI.",
)
def kpi_catalogue(warehouse: Warehouse) -> dg.MaterializeResult:
    frame = catalogue_frame()
    with warehouse.connect() as con:
        rows = replace_table(con, "measures.kpi_catalogue", frame)
        metadata = table_metadata(con, "measures.kpi_catalogue", rows)
    # The version of what the KPI facts are computed from (each KPI's definition version), so
    # an unchanged catalogue leaves the facts' history fresh and a changed one marks it stale.
    version = content_version(frame[["kpi_id", "kpi_version"]])
    return dg.MaterializeResult(data_version=version, metadata={
        **metadata,
        "by_table": dg.MetadataValue.md(
            frame.groupby("source_table")["kpi_id"].agg(", ".join).to_markdown()),
    })


defs = dg.Definitions(assets=[kpi_catalogue])
