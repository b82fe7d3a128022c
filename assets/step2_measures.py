"""Step 2 — define what you will measure: the KPI catalogue from config/kpis.yaml.

Each KPI is stored with its formula, attribution rule and a content hash of its definition, so
every value computed later can say which definition produced it.
"""


import dagster as dg
import pandas as pd

from assets.common import OWNER, replace_table, table_metadata
from quality.kpi_expressions import catalogue_problems
from resources.settings import kpis
from resources.warehouse import Warehouse

GROUP = "step2_measures"
CATALOGUE_CHECK = "kpi_expressions_compile"


@dg.asset(
    key=["measures", "kpi_catalogue"],
    group_name=GROUP,
    kinds={"duckdb", "yaml"},
    owners=[OWNER],
    pool="duckdb_warehouse",
    deps=[dg.AssetKey(["strategy", "targets"])],
    description="The KPI catalogue: definition, formula, unit, direction, target, thresholds, "
    "objectives served, attribution rule and version hash of each KPI.",
    check_specs=[
        dg.AssetCheckSpec(
            CATALOGUE_CHECK,
            asset=["measures", "kpi_catalogue"],
            blocking=True,
            description="Every KPI expression compiles against the canonical schema in a "
            "sandbox that cannot write, attach, install or read files.",
        )
    ],
)
def kpi_catalogue(warehouse: Warehouse):
    catalogue = kpis()
    problems = catalogue_problems(catalogue)
    frame = pd.DataFrame(
        [
            {
                "kpi_id": k.id,
                "name": k.name,
                "description": k.description,
                "unit": k.unit,
                "direction": k.direction,
                "kind": k.kind,
                "source_table": k.table,
                "formula": k.formula,
                "rollup": k.rollup,
                "breakdowns": ", ".join(k.breakdowns),
                "target": k.target,
                "warning": k.warning,
                "objectives": ", ".join(k.objectives),
                "owner": k.owner,
                "attribution": k.attribution,
                "counting_unit": k.counting_unit,
                "kpi_version": k.version,
                "definition": k.model_dump_json(),
            }
            for k in catalogue.kpis
        ]
    )
    with warehouse.connect() as con:
        rows = replace_table(con, "measures.kpi_catalogue", frame)
        metadata = table_metadata(con, "measures.kpi_catalogue", rows)
    yield dg.MaterializeResult(metadata=metadata)
    yield dg.AssetCheckResult(
        check_name=CATALOGUE_CHECK,
        passed=not problems,
        metadata={
            "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none"),
            "kpis_checked": len(catalogue.kpis),
        },
    )


defs = dg.Definitions(assets=[kpi_catalogue])
