"""The forecast backtest runs at most every reselect_days days; nights between reuse it.

Step 5's kpi_outlook is run through its real asset definition on a small warehouse holding
only the KPI catalogue and daily facts of two KPIs (a weekly-patterned count and a ratio), one
night after another: each night adds the next day of facts. The backtest is counted by
wrapping forecasts.backtest, so a test can tell a night that re-selected from one that reused
the stored selection.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from assets.step5_analyze import ForecastConfig, kpi_outlook
from assets.step5_analyze import forecasts as forecasts_module
from assets.step5_analyze.forecasts import (
    SEASON,
    forecast_method,
    regular_series,
    weekly_means,
)
from quality.schemas import KPI_DAILY, ddl
from resources.warehouse import Warehouse

START = dt.date(2026, 1, 5)  # a Monday
DAYS = 112
HISTORY = 84  # days analysed: the window slides forward every night, as in production
FIRST_NIGHT = START + dt.timedelta(days=99)  # last day of facts on the first night
TABLES = ("analysis.kpi_forecasts", "analysis.target_attainment",
          "analysis.forecast_selection")
KPIS = {  # kpi_id: (unit, direction, rollup, aggregate, target)
    "volume": ("incidents", "lower_is_better", "ratio", "count", 90.0),
    "compliance": ("share", "higher_is_better", "ratio", "ratio", 0.9),
}


def _values() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    pattern = np.tile([1.15, 1.05, 1.0, 0.95, 0.85, 0.3, 0.3], DAYS // SEASON + 1)[:DAYS]
    return {
        "volume": np.round(100 * pattern + 0.2 * np.arange(DAYS) + rng.normal(0, 5, DAYS)),
        "compliance": np.clip(0.88 + 0.0005 * np.arange(DAYS) + rng.normal(0, 0.02, DAYS),
                              0, 1),
    }


VALUES = _values()


def _fact_rows(first: dt.date, last: dt.date) -> pd.DataFrame:
    rows = []
    for kpi_id, values in VALUES.items():
        for i, value in enumerate(values):
            day = START + dt.timedelta(days=i)
            if first <= day <= last:
                rows.append((kpi_id, day, "all", "(all)", float(value), 1.0, float(value),
                             "v1", day))
    return pd.DataFrame(rows, columns=list(KPI_DAILY.columns))


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    """Catalogue and facts up to the first night's last day."""
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    try:
        for schema in ("measures", "clean", "analysis"):
            con.execute(f"CREATE SCHEMA {schema}")
        con.execute("""CREATE TABLE measures.kpi_catalogue (kpi_id VARCHAR, name VARCHAR,
            unit VARCHAR, direction VARCHAR, rollup VARCHAR, aggregate VARCHAR, target DOUBLE,
            kpi_version VARCHAR, definition VARCHAR)""")
        for kpi_id, (unit, direction, rollup, aggregate, target) in KPIS.items():
            con.execute("INSERT INTO measures.kpi_catalogue VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [kpi_id, kpi_id, unit, direction, rollup, aggregate, target,
                         f"{kpi_id}-v1", "{}"])
        con.execute(ddl("clean", "kpi_daily", KPI_DAILY))
    finally:
        con.close()
    warehouse = Warehouse(path=str(path))
    add_days(warehouse, START, FIRST_NIGHT)
    return warehouse


def add_days(warehouse: Warehouse, first: dt.date, last: dt.date) -> None:
    with warehouse.connect() as con:
        con.register("_rows", _fact_rows(first, last))
        con.execute("INSERT INTO clean.kpi_daily SELECT * FROM _rows")
        con.unregister("_rows")


def execute(warehouse: Warehouse, sql: str, params: list[object] | None = None) -> None:
    with warehouse.connect() as con:
        con.execute(sql, params or [])


@pytest.fixture
def backtests(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every call of the backtest, as the length of the series it was given."""
    calls: list[int] = []
    real = forecasts_module.backtest

    def counting(series: pd.Series, *args: object, **kwargs: object) -> object:
        calls.append(len(series))
        return real(series, *args, **kwargs)

    monkeypatch.setattr(forecasts_module, "backtest", counting)
    return calls


def night(warehouse: Warehouse, **config: object) -> dict[str, object]:
    """Materialize kpi_outlook; the metadata of analysis/forecast_selection."""
    run_config = ForecastConfig(**{"history_days": HISTORY, "warmup_days": 0, **config})
    result = dg.materialize([kpi_outlook], resources={"warehouse": warehouse},
                            run_config=dg.RunConfig(ops={"kpi_outlook": run_config}),
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
    found = [e.materialization.metadata for e in result.get_asset_materialization_events()
             if e.materialization.asset_key.to_user_string() == "analysis/forecast_selection"]
    assert len(found) == 1
    return {k: v.value for k, v in found[0].items() if k.startswith(("reused", "reselected"))}


def next_night(warehouse: Warehouse, days: int = 1) -> dt.date:
    """Add the facts of the next ``days`` days; the new last day."""
    with warehouse.connect() as con:
        last = pd.Timestamp(con.execute("SELECT max(day) FROM clean.kpi_daily")
                            .fetchall()[0][0]).date()
    add_days(warehouse, last + dt.timedelta(days=1), last + dt.timedelta(days=days))
    return last + dt.timedelta(days=days)


def frame(warehouse: Warehouse, table: str) -> pd.DataFrame:
    with warehouse.connect(read_only=True) as con:
        return con.execute(f"SELECT * FROM {table} ORDER BY ALL").df()


def snapshot(warehouse: Warehouse) -> dict[str, str]:
    """Every row of the three tables, compared as text (NaN equals NaN there)."""
    with warehouse.connect(read_only=True) as con:
        return {t: repr(con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall())
                for t in TABLES}


def selections(warehouse: Warehouse) -> dict[str, dict[str, object]]:
    """analysis.forecast_selection by KPI, as plain Python values (lists, dates)."""
    with warehouse.connect(read_only=True) as con:
        cursor = con.execute("SELECT * FROM analysis.forecast_selection")
        rows = cursor.fetchall()
        names = [d[0] for d in cursor.description]
    return {row[0]: dict(zip(names, row, strict=True)) for row in rows}


def window(kpi_id: str, last: dt.date) -> pd.Series:
    """The KPI's analysed series ending on ``last``, straight from the generated values."""
    days = pd.date_range(last - dt.timedelta(days=HISTORY - 1), last, freq="D")
    offsets = [(d.date() - START).days for d in days]
    return pd.Series(VALUES[kpi_id][offsets], index=days)


def test_next_night_reuses_the_selection_and_fits_only_the_stored_method(
        warehouse: Warehouse, backtests: list[int]) -> None:
    assert night(warehouse) == {"reused": 0, "reselected": 2, "reselected/none_stored": 2}
    assert len(backtests) == 2
    stored = selections(warehouse)
    assert {s["selected_on"] for s in stored.values()} == {FIRST_NIGHT}
    before = frame(warehouse, "analysis.kpi_forecasts")

    last = next_night(warehouse)
    backtests.clear()
    assert night(warehouse) == {"reused": 2, "reselected": 0}
    assert backtests == []
    after = frame(warehouse, "analysis.kpi_forecasts")
    for kpi_id, selection in stored.items():
        rows = after[after["kpi_id"] == kpi_id].sort_values("week_ahead")
        weeks = len(selection["backtest_mae"])
        expected = weekly_means(forecast_method(selection["method"],
                                                regular_series(window(kpi_id, last)),
                                                weeks * SEASON), weeks)
        assert (rows["method"] == selection["method"]).all()
        assert np.allclose(rows["forecast"], expected, rtol=1e-9)
        assert np.allclose(rows["backtest_mae"], selection["backtest_mae"])
        assert rows["day"].iloc[0].date() == last + dt.timedelta(days=SEASON)
        old = before[before["kpi_id"] == kpi_id].sort_values("week_ahead")
        assert not np.allclose(rows["forecast"], old["forecast"])  # refitted, not copied
    assert selections(warehouse) == stored  # the selection in use stays as it was


def test_backtest_runs_again_after_reselect_days(warehouse: Warehouse,
                                                 backtests: list[int]) -> None:
    night(warehouse, reselect_days=3)
    for _ in range(2):
        next_night(warehouse)
        assert night(warehouse, reselect_days=3)["reused"] == 2
    assert backtests == [HISTORY, HISTORY]  # the first night's only
    last = next_night(warehouse)
    assert night(warehouse, reselect_days=3) == {"reused": 0, "reselected": 2,
                                                 "reselected/due": 2}
    assert len(backtests) == 4
    assert {s["selected_on"] for s in selections(warehouse).values()} == {last}


def test_changed_definition_forces_reselection(warehouse: Warehouse,
                                               backtests: list[int]) -> None:
    night(warehouse)
    first = selections(warehouse)
    execute(warehouse, "UPDATE measures.kpi_catalogue SET kpi_version = 'volume-v2' "
            "WHERE kpi_id = 'volume'")
    last = next_night(warehouse)
    assert night(warehouse) == {"reused": 1, "reselected": 1,
                                "reselected/definition_changed": 1}
    assert len(backtests) == 3
    now = selections(warehouse)
    assert now["volume"]["kpi_version"] == "volume-v2"
    assert now["volume"]["selected_on"] == last
    assert now["compliance"] == first["compliance"]


def test_rerunning_a_night_gives_identical_tables(warehouse: Warehouse,
                                                  backtests: list[int]) -> None:
    night(warehouse)
    selected = snapshot(warehouse)
    assert night(warehouse) == {"reused": 0, "reselected": 2, "reselected/no_new_day": 2}
    assert snapshot(warehouse) == selected
    next_night(warehouse)
    night(warehouse)
    reused = snapshot(warehouse)
    assert night(warehouse)["reused"] == 2
    assert snapshot(warehouse) == reused
    assert len(backtests) == 4  # the two nights that selected, never the reusing ones


def test_replaced_history_forces_reselection_but_late_updates_do_not(
        warehouse: Warehouse, backtests: list[int]) -> None:
    night(warehouse)
    # A backfill replaced a settled day of the volume history; compliance saw a late update
    # of its second-last day, which the nightly look-back re-processes anyway.
    execute(warehouse, "UPDATE clean.kpi_daily SET value = value + 7 "
            "WHERE kpi_id = 'volume' AND day = ?", [FIRST_NIGHT - dt.timedelta(days=30)])
    execute(warehouse, "UPDATE clean.kpi_daily SET value = value - 0.01 "
            "WHERE kpi_id = 'compliance' AND day = ?", [FIRST_NIGHT - dt.timedelta(days=1)])
    next_night(warehouse)
    assert night(warehouse) == {"reused": 1, "reselected": 1,
                                "reselected/facts_changed": 1}
    assert len(backtests) == 3


def test_without_settling_days_a_late_update_forces_reselection(
        warehouse: Warehouse, backtests: list[int]) -> None:
    night(warehouse, settle_days=0)
    execute(warehouse, "UPDATE clean.kpi_daily SET value = value - 0.01 "
            "WHERE kpi_id = 'compliance' AND day = ?", [FIRST_NIGHT - dt.timedelta(days=1)])
    next_night(warehouse)
    assert night(warehouse, settle_days=0) == {"reused": 1, "reselected": 1,
                                               "reselected/facts_changed": 1}
    assert len(backtests) == 3


def test_history_added_in_front_of_the_window_forces_reselection(
        warehouse: Warehouse, backtests: list[int]) -> None:
    night(warehouse)
    next_night(warehouse)
    assert night(warehouse, history_days=HISTORY + 7) == {"reused": 0, "reselected": 2,
                                                          "reselected/window_changed": 2}
