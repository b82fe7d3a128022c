"""KPI coverage per source: computable, partial (sparse fields) or cannot, and why."""

from __future__ import annotations

import duckdb
import pytest

from assets.kpi_coverage import coverage, needs
from assets.step4_process.entities import ENTITY_SPECS
from resources.config_models import SourceConfig
from resources.settings import kpis
from tests import kpi_dataset as data

FULL = SourceConfig(name="test", kind="synthetic")
INCIDENTS_ONLY = SourceConfig(name="beta", kind="synthetic", entities=["incidents"])


def _raw_table(con: duckdb.DuckDBPyConnection, source: SourceConfig, entity: str,
               without: tuple[str, ...] = ()) -> None:
    """An (empty) raw table with the source's columns for every field of the entity."""
    spec = ENTITY_SPECS[entity]
    columns = [source.column(entity, f.name, f.raw) for f in spec.fields]
    cols = ", ".join(f'"{c}" VARCHAR' for c in dict.fromkeys(columns) if c not in without)
    con.execute(f"CREATE TABLE raw.{source.raw_table(entity)} ({cols})")


@pytest.fixture(scope="module")
def warehouse() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    data.build(con)
    con.execute("CREATE SCHEMA raw")
    for entity in ("incidents", "changes", "problems", "outages", "surveys"):
        _raw_table(con, FULL, entity)
    # Source beta: no acknowledged_at column at all, and a category on one incident in ten.
    _raw_table(con, INCIDENTS_ONLY, "incidents", without=("acknowledged_at",))
    con.execute("""
        INSERT INTO clean.incidents
        SELECT * REPLACE ('B' || incident_id AS incident_id, 'beta' AS _source,
                          CASE WHEN incident_id = 'I1' THEN category END AS category,
                          NULL AS acknowledged_at, NULL AS minutes_to_acknowledge,
                          NULL AS minutes_to_acknowledge_business)
        FROM clean.incidents""")
    yield con
    con.close()


def _status(frame, source: str, kpi_id: str) -> tuple[str, str]:
    row = frame[(frame.source == source) & (frame.kpi_id == kpi_id)].iloc[0]
    return row.status, row.reasons


def test_needs_trace_derived_columns_and_tables_to_delivered_fields() -> None:
    mttr = needs(kpis().get("mttr_business"))
    assert mttr.entity == "incidents"
    assert mttr.fields == ("on_hold_minutes", "opened_at", "resolved_at", "service")
    assert "assignment_group" in mttr.breakdown_columns
    sla = needs(kpis().get("sla_response_compliance"))
    assert sla.entity == "incidents"  # an SLA record comes from its incident
    assert {"acknowledged_at", "priority"} <= set(sla.fields)
    availability = needs(kpis().get("availability"))
    assert availability.fields == ("end_at", "outage_type", "service", "start_at")
    assert needs(kpis().get("recurring_incidents")).fields == ("category", "ci", "opened_at")


def test_a_complete_source_can_compute_every_kpi(warehouse) -> None:
    frame = coverage(warehouse, kpis().kpis, [FULL])
    assert set(frame.status) == {"computable"}, frame[frame.status != "computable"]
    assert len(frame) == len(kpis().kpis)


def test_missing_sparse_and_undelivered_fields_are_explained(warehouse) -> None:
    frame = coverage(warehouse, kpis().kpis, [FULL, INCIDENTS_ONLY])
    assert _status(frame, "beta", "mtta") == (
        "cannot", "no column 'acknowledged_at' for acknowledged_at in raw.beta_incidents; "
        "acknowledged_at is never filled (10 rows); minutes_to_acknowledge is never filled "
        "(10 rows)")
    assert _status(frame, "beta", "recurring_incidents") == (
        "partial", "category is filled in 10% of 10 rows")
    assert _status(frame, "beta", "mttr") == (
        "partial", "category is filled in 10% of 10 rows")  # only its category breakdown
    assert _status(frame, "beta", "incident_volume")[0] == "partial"
    assert _status(frame, "beta", "reopen_rate")[0] == "partial"
    assert _status(frame, "beta", "mttr_median") == ("computable", "")
    assert _status(frame, "beta", "availability") == (
        "cannot", "the source does not deliver outages")
    assert _status(frame, "test", "mtta") == ("computable", "")


def test_a_source_with_no_rows_yet_cannot_compute(warehouse) -> None:
    empty = SourceConfig(name="gamma", kind="synthetic", entities=["surveys"])
    frame = coverage(warehouse, [kpis().get("csat_mean")], [empty])
    assert _status(frame, "gamma", "csat_mean") == (
        "cannot", "no rows from this source in clean.surveys yet")
