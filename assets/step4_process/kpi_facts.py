"""The daily KPI facts: every catalogue KPI per day and breakdown as numerator/denominator.

The asset depends on exactly the tables the catalogue's KPIs read, and its definition metadata
lists which KPI reads which table, so the asset graph shows where each number comes from. Its
code version is a hash of every KPI's version: changing one formula in config/kpis.yaml marks
the facts stale in Dagster, every row records the version that computed it, and the
`history_uses_current_definitions` check names the KPIs whose history predates their current
definition. (One asset per KPI was measured and rejected: a partitioned asset per KPI costs a
Dagster materialization event per KPI and day — 33 KPIs over two years are 24,000 events per
backfill; 8 days of 34 assets cost 16 s of a 39 s run — for nothing the version column and the
check do not already say.)
"""

import hashlib

import dagster as dg

from assets.common import (
    DAILY,
    OWNER,
    SINGLE_RUN,
    WAREHOUSE_POOL,
    day_range,
    markdown_preview,
    replace_table,
    table_schema,
)
from assets.kpi_sql import ALL, kpi_queries, kpi_version, reads
from quality.kpi_expressions import catalogue_problems
from quality.schemas import KPI_DAILY, ddl
from quality.validation import validate_partitions
from resources.business_calendar import business_calendar
from resources.config_models import KpiCatalogue, KpiDefinition
from resources.settings import kpis, sources
from resources.warehouse import Warehouse, scalar

GROUP = "step4_process"
FACTS_KEY = dg.AssetKey(["clean", "kpi_daily"])
CATALOGUE_KEY = dg.AssetKey(["measures", "kpi_catalogue"])
COMPLETE = "kpi_facts_complete"
CONTRACT = "pandera_contract"
CURRENT = "history_uses_current_definitions"


def table_key(table: str) -> dg.AssetKey:
    """'clean.incidents' -> clean/incidents: warehouse tables and asset keys read the same."""
    return dg.AssetKey(table.split("."))


def catalogue_version(catalogue: KpiCatalogue) -> str:
    """Changes whenever any KPI's version changes, which marks the facts stale in Dagster."""
    joined = ",".join(sorted(f"{k.id}:{kpi_version(k)}" for k in catalogue.kpis))
    return hashlib.sha256(joined.encode()).hexdigest()[:12]


def lineage(catalogue: KpiCatalogue) -> dg.TableMetadataValue:
    """KPI -> tables read, version and formula: the per-KPI lineage shown on the asset."""
    return dg.MetadataValue.table(
        records=[dg.TableRecord({"kpi_id": k.id, "reads": ", ".join(reads(k)),
                                 "version": kpi_version(k), "formula": k.formula})
                 for k in catalogue.kpis],
        schema=dg.TableSchema(columns=[dg.TableColumn(c) for c in
                                       ("kpi_id", "reads", "version", "formula")]),
    )


def _definitions_as_materialized(con, expected: KpiCatalogue) -> list[KpiDefinition]:
    """The catalogue step 2 materialized, which must be the one this code location loaded."""
    rows = con.execute("SELECT definition, kpi_version FROM measures.kpi_catalogue "
                       "ORDER BY kpi_id").fetchall()
    stored = {KpiDefinition.model_validate_json(d).id: (KpiDefinition.model_validate_json(d), v)
              for d, v in rows}
    loaded = {k.id: kpi_version(k) for k in expected.kpis}
    if {i: v for i, (_, v) in stored.items()} != loaded:
        raise dg.Failure(
            "measures.kpi_catalogue does not match config/kpis.yaml as this code location "
            "loaded it: materialize measures/kpi_catalogue and reload the code location.")
    return [stored[k.id][0] for k in expected.kpis]


def build_kpi_daily(catalogue: KpiCatalogue) -> dg.AssetsDefinition:
    """The facts asset for a catalogue (the one of config/kpis.yaml at load time)."""
    tables = sorted({t for k in catalogue.kpis for t in reads(k)})

    @dg.asset(
        key=FACTS_KEY,
        deps=[table_key(t) for t in tables] + [CATALOGUE_KEY],
        group_name=GROUP,
        kinds={"duckdb", "sql"},
        owners=[OWNER],
        description=KPI_DAILY.description + " Each KPI reads the tables listed in the "
        "`kpi_lineage` metadata.",
        metadata={"dagster/column_schema": table_schema(KPI_DAILY),
                  "kpi_lineage": lineage(catalogue)},
        code_version=catalogue_version(catalogue),
        partitions_def=DAILY,
        backfill_policy=SINGLE_RUN,
        pool=WAREHOUSE_POOL,
        check_specs=[
            dg.AssetCheckSpec(COMPLETE, asset=FACTS_KEY, blocking=True,
                              description="Every KPI has a total for every day; ratios in % lie "
                              "in 0..1; no value is NaN or infinite."),
            dg.AssetCheckSpec(CONTRACT, asset=FACTS_KEY, blocking=True,
                              description="pandera contract of clean.kpi_daily"),
            dg.AssetCheckSpec(CURRENT, asset=FACTS_KEY,
                              description="Warns when days outside this run still carry values "
                              "of an older KPI definition: compare with `sevenstep kpi diff`, "
                              "then backfill them."),
        ],
    )
    def kpi_daily(context: dg.AssetExecutionContext, warehouse: Warehouse):
        start, end = day_range(context)
        calendar = business_calendar()
        with warehouse.connect() as con:
            definitions = _definitions_as_materialized(con, catalogue)
            problems = catalogue_problems(KpiCatalogue(kpis=definitions), calendar)
            if problems:
                raise dg.Failure("the KPI catalogue has invalid definitions:\n" + "\n".join(
                    f"KPI {definitions[i].id}: {field}: {reason}" for i, field, reason in problems))
            con.execute(ddl("clean", "kpi_daily", KPI_DAILY))
            con.execute(calendar.macro_sql())
            # User expressions run next: this connection no longer reaches any file.
            con.execute("SET enable_external_access = false")
            con.begin()
            con.execute("DELETE FROM clean.kpi_daily WHERE _partition >= ? AND _partition < ?",
                        [start, end])
            for kpi in definitions:
                for _, sql in kpi_queries(kpi, calendar):
                    con.execute(f"INSERT INTO clean.kpi_daily {sql}", {"start": start, "end": end})
            con.commit()
            summary = _summary(con, start, end)
            incomplete, bad_values = _completeness(con, start, end)
            outdated = con.execute("""
SELECT k.kpi_id, k.kpi_version, count(DISTINCT k.day) AS days, min(k.day), max(k.day)
FROM clean.kpi_daily k JOIN measures.kpi_catalogue c USING (kpi_id)
WHERE k.kpi_version <> c.kpi_version GROUP BY ALL ORDER BY 1, 2""").fetchall()
            rows = scalar(con, "SELECT count(*) FROM clean.kpi_daily WHERE _partition >= ? "
                          "AND _partition < ?", [start, end])
            passed, meta = validate_partitions(con, "kpi_daily", KPI_DAILY, start, end)
        yield dg.MaterializeResult(asset_key=FACTS_KEY, metadata={
            "dagster/row_count": rows, "kpis": len(definitions), "days": (end - start).days,
            "last_day": dg.MetadataValue.md(summary)})
        yield dg.AssetCheckResult(
            asset_key=FACTS_KEY, check_name=COMPLETE, passed=not incomplete and not bad_values,
            metadata={"kpis_missing_days": str(incomplete or "none"),
                      "impossible_values": str(bad_values or "none")})
        yield dg.AssetCheckResult(asset_key=FACTS_KEY, check_name=CONTRACT, passed=passed,
                                  metadata={k: str(v) for k, v in meta.items()})
        yield dg.AssetCheckResult(
            asset_key=FACTS_KEY, check_name=CURRENT, passed=not outdated,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"outdated": dg.MetadataValue.md("\n".join(
                f"- {k}: {n} days ({first} .. {last}) computed by version {v}; run `sevenstep "
                f"kpi diff {k} --start {first} --end {last}`, then backfill them"
                for k, v, n, first, last in outdated) or "none")})

    return kpi_daily


def _summary(con, start, end) -> str:
    """Each KPI's total on the last day of the run, its version and rows written (Markdown)."""
    return markdown_preview(con, f"""
SELECT kpi_id, arg_max(value, day) FILTER (WHERE breakdown_value = '{ALL}') AS last_value,
       any_value(kpi_version) AS version, count(*) AS rows
FROM clean.kpi_daily WHERE _partition >= ? AND _partition < ? GROUP BY 1 ORDER BY 1""",
                            [start, end], limit=1000)


def _completeness(con, start, end) -> tuple[list[tuple], list[tuple]]:
    days = (end - start).days
    incomplete = con.execute(f"""
SELECT c.kpi_id, {days} - count(k.day) AS missing_days
FROM measures.kpi_catalogue c LEFT JOIN clean.kpi_daily k
  ON k.kpi_id = c.kpi_id AND k.breakdown = 'all' AND k.breakdown_value = '{ALL}'
 AND k._partition >= ? AND k._partition < ?
GROUP BY 1 HAVING count(k.day) <> {days}""", [start, end]).fetchall()
    bad_values = con.execute("""
SELECT k.kpi_id, k.day, k.breakdown_value, k.value FROM clean.kpi_daily k
JOIN measures.kpi_catalogue c USING (kpi_id)
WHERE k._partition >= ? AND k._partition < ?
  AND (isnan(k.value) OR isinf(k.value)
       OR (c.unit = '%' AND (k.value < 0 OR k.value > 1)))
LIMIT 10""", [start, end]).fetchall()
    return incomplete, bad_values


kpi_daily = build_kpi_daily(kpis())


@dg.asset(
    key=["clean", "kpi_coverage"],
    deps=[CATALOGUE_KEY] + [dg.AssetKey(["clean", e]) for e in
                            ("incidents", "changes", "problems", "outages", "surveys")],
    group_name=GROUP,
    kinds={"duckdb"},
    owners=[OWNER],
    pool=WAREHOUSE_POOL,
    description="What you should measure vs what you can: per source and KPI, whether the "
    "KPI can be computed, only partially (needed fields sparsely filled) or not at all, and "
    "why.",
)
def kpi_coverage(warehouse: Warehouse) -> dg.MaterializeResult:
    from assets.kpi_coverage import coverage  # it reads the entity specs of this package

    catalogue = kpis()
    with warehouse.connect() as con:
        frame = coverage(con, catalogue.kpis, sources().sources)
        rows = replace_table(con, "clean.kpi_coverage", frame)
        matrix = markdown_preview(con, """
SELECT kpi_id, string_agg(source || ': ' || status, ', ' ORDER BY source) AS status,
       string_agg(nullif(reasons, ''), '; ') AS why
FROM clean.kpi_coverage GROUP BY 1 ORDER BY 1""", limit=len(catalogue.kpis))
    counts = frame.groupby("status").size()
    return dg.MaterializeResult(metadata={
        "dagster/row_count": rows,
        **{status: int(counts.get(status, 0)) for status in ("computable", "partial", "cannot")},
        "coverage": dg.MetadataValue.md(matrix),
    })
