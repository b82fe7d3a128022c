"""The daily KPI facts: every catalogue KPI per day and breakdown as numerator/denominator."""


import hashlib

import dagster as dg

from assets.common import DAILY, OWNER, SINGLE_RUN, WAREHOUSE_POOL, day_range, table_schema
from assets.kpi_sql import ALL, kpi_queries
from quality.kpi_expressions import catalogue_problems
from quality.schemas import KPI_DAILY, ddl
from quality.validation import validate_partitions
from resources.config_models import KpiCatalogue, KpiDefinition
from resources.settings import kpis
from resources.warehouse import Warehouse, scalar

COMPLETE = "kpi_facts_complete"
CONTRACT = "pandera_contract"
CLEAN_INPUTS = ("incidents", "changes", "outages", "surveys", "sla_records")


def catalogue_version(catalogue: KpiCatalogue) -> str:
    """Changes whenever any KPI's formula changes, which marks the facts stale in Dagster."""
    joined = ",".join(sorted(f"{k.id}:{k.version}" for k in catalogue.kpis))
    return hashlib.sha256(joined.encode()).hexdigest()[:12]


@dg.asset(
    key=["clean", "kpi_daily"],
    deps=[dg.AssetKey(["clean", t]) for t in CLEAN_INPUTS]
    + [dg.AssetKey(["measures", "kpi_catalogue"]), dg.AssetKey(["strategy", "services"])],
    group_name="step4_process",
    kinds={"duckdb", "sql"},
    owners=[OWNER],
    description=KPI_DAILY.description,
    metadata={"dagster/column_schema": table_schema(KPI_DAILY)},
    code_version=catalogue_version(kpis()),
    partitions_def=DAILY,
    backfill_policy=SINGLE_RUN,
    pool=WAREHOUSE_POOL,
    check_specs=[
        dg.AssetCheckSpec(COMPLETE, asset=["clean", "kpi_daily"], blocking=True,
                          description="Every KPI has a total for every day; ratios in % lie "
                          "in 0..1; no value is NaN or infinite."),
        dg.AssetCheckSpec(CONTRACT, asset=["clean", "kpi_daily"], blocking=True,
                          description="pandera contract of clean.kpi_daily"),
    ],
)
def kpi_daily(context: dg.AssetExecutionContext, warehouse: Warehouse):
    start, end = day_range(context)
    with warehouse.connect() as con:
        definitions = [KpiDefinition.model_validate_json(r[0]) for r in con.execute(
            "SELECT definition FROM measures.kpi_catalogue ORDER BY kpi_id").fetchall()]
        problems = catalogue_problems(KpiCatalogue(kpis=definitions))
        if problems:
            raise dg.Failure("the KPI catalogue has invalid expressions:\n" + "\n".join(problems))
        con.execute(ddl("clean", "kpi_daily", KPI_DAILY))
        con.begin()
        con.execute("DELETE FROM clean.kpi_daily WHERE _partition >= ? AND _partition < ?",
                    [start, end])
        for kpi in definitions:
            for _, sql in kpi_queries(kpi):
                con.execute(f"INSERT INTO clean.kpi_daily {sql}", {"start": start, "end": end})
        con.commit()
        days = (end - start).days
        incomplete = con.execute(
            f"""SELECT c.kpi_id, {days} - count(k.day) AS missing_days
            FROM measures.kpi_catalogue c LEFT JOIN clean.kpi_daily k
              ON k.kpi_id = c.kpi_id AND k.breakdown = 'all' AND k.breakdown_value = '{ALL}'
             AND k._partition >= ? AND k._partition < ?
            GROUP BY 1 HAVING count(k.day) <> {days}""", [start, end]).fetchall()
        bad_values = con.execute(
            """SELECT k.kpi_id, k.day, k.breakdown_value, k.value FROM clean.kpi_daily k
            JOIN measures.kpi_catalogue c USING (kpi_id)
            WHERE k._partition >= ? AND k._partition < ?
              AND (isnan(k.value) OR isinf(k.value)
                   OR (c.unit = '%' AND (k.value < 0 OR k.value > 1)))
            LIMIT 10""", [start, end]).fetchall()
        rows = scalar(con, "SELECT count(*) FROM clean.kpi_daily WHERE _partition >= ? "
                      "AND _partition < ?", [start, end])
        passed, meta = validate_partitions(con, "kpi_daily", KPI_DAILY, start, end)
    yield dg.MaterializeResult(metadata={"dagster/row_count": rows, "kpis": len(definitions)})
    yield dg.AssetCheckResult(
        check_name=COMPLETE, passed=not incomplete and not bad_values,
        metadata={"kpis_missing_days": str(incomplete or "none"),
                  "impossible_values": str(bad_values or "none")})
    yield dg.AssetCheckResult(check_name=CONTRACT, passed=passed,
                              metadata={k: str(v) for k, v in meta.items()})
