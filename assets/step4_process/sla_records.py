"""SLA records derived from clean incidents and the agreed targets in config/strategy.yaml.

One record per incident and SLA type in its final state: SLA compliance counts each record once,
on the day its clock stopped, so a reopened incident cannot be counted twice.
"""


import dagster as dg

from assets.common import DAILY, OWNER, SINGLE_RUN, WAREHOUSE_POOL, day_range, table_schema
from quality.schemas import SLA_RECORDS, ddl
from quality.validation import validate_partitions
from resources.warehouse import Warehouse, scalar

CONTRACT = "pandera_contract"

_INSERT = """
INSERT INTO clean.sla_records
SELECT i.incident_id, s.sla_type, i.service, i.priority,
       CASE s.sla_type WHEN 'response' THEN l.response_minutes ELSE l.resolution_minutes END,
       i.opened_at,
       CASE s.sla_type WHEN 'response' THEN i.acknowledged_at ELSE i.resolved_at END AS stop_at,
       CASE s.sla_type
         WHEN 'response' THEN coalesce(i.minutes_to_acknowledge,
                                       date_diff('second', i.opened_at, i._loaded_at) / 60.0)
         ELSE coalesce(i.minutes_to_resolve,
                       greatest(date_diff('second', i.opened_at, i._loaded_at) / 60.0
                                - i.on_hold_minutes, 0)) END AS elapsed,
       CASE WHEN (CASE s.sla_type WHEN 'response' THEN i.acknowledged_at ELSE i.resolved_at END)
                 IS NULL THEN 'in_progress' ELSE 'completed' END,
       elapsed > CASE s.sla_type WHEN 'response' THEN l.response_minutes
                 ELSE l.resolution_minutes END,
       i._partition
FROM clean.incidents i
CROSS JOIN (VALUES ('response'), ('resolution')) AS s(sla_type)
JOIN strategy.service_levels l ON l.priority = i.priority
WHERE i._partition >= ? AND i._partition < ?"""


@dg.asset(
    key=["clean", "sla_records"],
    deps=[dg.AssetKey(["clean", "incidents"]), dg.AssetKey(["strategy", "services"])],
    group_name="step4_process",
    kinds={"duckdb", "pandera"},
    owners=[OWNER],
    description=SLA_RECORDS.description,
    metadata={"dagster/column_schema": table_schema(SLA_RECORDS)},
    partitions_def=DAILY,
    backfill_policy=SINGLE_RUN,
    pool=WAREHOUSE_POOL,
    check_specs=[dg.AssetCheckSpec(CONTRACT, asset=["clean", "sla_records"], blocking=True,
                                   description="pandera contract of clean.sla_records")],
)
def sla_records(context: dg.AssetExecutionContext, warehouse: Warehouse):
    start, end = day_range(context)
    with warehouse.connect() as con:
        con.execute(ddl("clean", "sla_records", SLA_RECORDS))
        con.begin()
        con.execute("DELETE FROM clean.sla_records WHERE _partition >= ? AND _partition < ?",
                    [start, end])
        con.execute(_INSERT, [start, end])
        con.commit()
        rows = scalar(con, "SELECT count(*) FROM clean.sla_records WHERE _partition >= ? "
                      "AND _partition < ?", [start, end])
        passed, meta = validate_partitions(con, "sla_records", SLA_RECORDS, start, end)
    yield dg.MaterializeResult(metadata={"dagster/row_count": rows})
    yield dg.AssetCheckResult(check_name=CONTRACT, passed=passed,
                              metadata={k: str(v) for k, v in meta.items()})
