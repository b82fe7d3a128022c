"""Every shipped KPI against values worked out by hand on tests/kpi_dataset.py.

The comments next to each expected value are the hand calculation. The roll-up tests pick
KPIs where the naive way (mean of daily ratios, median of daily medians, mean of daily levels)
gives a different answer from the exact one, and show both.
"""

from __future__ import annotations

import datetime as dt
import statistics

import duckdb
import pandas as pd
import pytest

from assets.kpi_rollup import exact_quantiles, rollup, window_values
from assets.kpi_sql import ALL, kpi_queries
from resources.settings import kpis
from tests import kpi_dataset as data

HOURS_ERP = 5 * 480  # 8 working hours on Mon, Tue, Thu, Fri, Mon (Wednesday is a holiday)
AGREED = (HOURS_ERP - 60) + (8 * 1440 - 60)  # planned maintenance: 60 on ERP, 60 on Email
DOWN = (60 + 30 + 30) + (30 + 30)  # Email: O1+O2 merged, O6 over midnight; ERP: O3, O5
OUTAGES = 4  # O1+O2 (one island), O3, O5, O6
MTTR = [3000, 120, 1020, 360, 2490, 2340, 60]  # I9, I1, I2, I3, I4, I5, I8
MTTR_BUSINESS = [3000, 120, 120 * 1020 / 1080, 360, 120, 960 * 2340 / 2940, 60]

EXPECTED: dict[str, float] = {
    "incident_volume": 8 / 8,  # I1 I2 I3 I4 I5 I6 I8 I10 opened in 8 days
    "major_incidents": 2 / 8,  # I1, I6 are priority 1
    "backlog": 3,  # end of 2026-03-09: I6, I7, I10 still open
    "aged_backlog": 1,  # I7, opened 2026-02-15
    "mtta": (30 + 20 + 60 + 960 + 10 + 5 + 15) / 7,  # I1 I2 I3 I4 I5 I6 I8 acknowledged
    "mttr": sum(MTTR) / 7,
    "mttr_median": 1020,  # sorted 60 120 360 [1020] 2340 2490 3000
    "mttr_p90": 2490 + 0.4 * (3000 - 2490),  # position 0.9 * 6 = 5.4
    "mttr_business": sum(MTTR_BUSINESS) / 7,
    "mttr_business_median": 120,  # 60 113.3 120 [120] 360 764.1 3000
    "mttr_business_p90": 960 * 2340 / 2940 + 0.4 * (3000 - 960 * 2340 / 2940),
    "sla_response_compliance": 4 / 7,  # I2 I5 I6 I8 met; I1 I3 I4 breached; I10 running
    "sla_resolution_compliance": 6 / 7,  # only I9 (3000 > 2880) breached
    "first_contact_resolution": 3 / 5,  # phone/walk-in resolved: I1 I3 I4 I5 I8; I3 I5 moved
    "reopen_rate": 2 / 7,  # I3, I9
    "reassignment_rate": 4 / 7,  # I2 I3 I5 I9
    "ping_pong_share": 2 / 7,  # I3 (2), I5 (3)
    "problem_linked_share": 1 / 7,  # I2
    "recurring_incidents": 1 / 8,  # I2, 6 hours after I1 on erp-1 / A
    "problem_resolution_days": (11.5 + 4) / 2,  # PRB1, PRB2
    "change_volume": 5 / 8,  # C1..C5 created in the 8 days
    "change_success_rate": 3 / 5,  # ended: C6 C2 failed, C1 C3 C5 succeeded
    "failed_change_rate": 2 / 5,
    "emergency_change_ratio": 2 / 5,  # C2, C5
    "change_induced_incident_rate": 1 / 8,  # I3
    "availability": (AGREED - DOWN) / AGREED,
    "downtime_minutes": DOWN / 8,
    "mtbf": (AGREED - DOWN) / 60 / OUTAGES,
    "mtrs": (60 + 120 + 60 + 60) / OUTAGES,  # full lengths of the four outages
    "mtbsi": AGREED / 60 / OUTAGES,
    "csat_mean": (5 + 3 + 4 + 1) / 4,
    "csat_satisfied_share": 2 / 4,  # S1 (5), S4 (4)
    "survey_response_rate": 4 / 6,  # S1 S2 S4 S6 of six sent
}


@pytest.fixture(scope="module")
def facts() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    data.build_with_facts(con)
    yield con
    con.close()


@pytest.fixture(scope="module")
def window(facts) -> dict[str, float | None]:
    return window_values(facts, kpis(), data.START, data.END, data.CALENDAR)


def _daily(con: duckdb.DuckDBPyConnection, kpi_id: str, breakdown: str = "all") -> pd.DataFrame:
    return con.execute("SELECT day, breakdown_value, numerator, denominator, value "
                       "FROM clean.kpi_daily WHERE kpi_id = ? AND breakdown = ? ORDER BY day",
                       [kpi_id, breakdown]).df()


def test_every_shipped_kpi_has_a_hand_computed_value() -> None:
    assert sorted(EXPECTED) == sorted(k.id for k in kpis().kpis)
    assert len(EXPECTED) >= 25


@pytest.mark.parametrize("kpi_id", sorted(EXPECTED))
def test_kpi_value_over_the_eight_days(window, kpi_id: str) -> None:
    assert window[kpi_id] == pytest.approx(EXPECTED[kpi_id], rel=1e-9)


def test_every_kpi_has_a_row_for_every_day(facts) -> None:
    days = dict(facts.execute(f"SELECT kpi_id, count(DISTINCT day) FROM clean.kpi_daily "
                              f"WHERE breakdown_value = '{ALL}' GROUP BY 1").fetchall())
    assert days == {k: 8 for k in EXPECTED}


def test_business_hours_and_on_hold_columns(facts) -> None:
    rows = dict(facts.execute("SELECT incident_id, [minutes_to_acknowledge_business, "
                              "minutes_to_resolve_business] FROM clean.incidents").fetchall())
    assert rows["I4"] == [0, 120]  # opened after closing, acknowledged on the holiday
    assert rows["I2"] == pytest.approx([20, 120 * (1080 - 60) / 1080])  # hold share removed
    assert rows["I5"] == pytest.approx([10, 960 * (2940 - 600) / 2940])  # over a weekend
    assert rows["I3"] == [60, 360]  # Email is supported around the clock
    assert rows["I10"] == [None, None]


def test_first_resolution_is_kept_only_when_known(facts) -> None:
    rows = dict(facts.execute("SELECT incident_id, first_resolved_at IS NOT NULL "
                              "FROM clean.incidents").fetchall())
    assert rows["I1"] and not rows["I3"] and not rows["I9"]  # I3, I9 were reopened
    assert not rows["I6"]  # still open


def test_ratio_rolls_up_as_sum_over_sum_not_mean_of_daily_ratios(facts) -> None:
    kpi = kpis().get("sla_response_compliance")
    daily = _daily(facts, kpi.id)
    naive = daily["value"].dropna().mean()  # (1/2 + 0 + 0 + 1 + 1 + 1) / 6 days with data
    assert naive == pytest.approx(3.5 / 6)
    exact = rollup(facts, kpi, data.START, data.END, "window")["value"].item()
    assert exact == pytest.approx(4 / 7)
    assert exact != pytest.approx(naive)


def test_mean_rolls_up_weighted_by_rows_not_by_days(facts) -> None:
    daily = _daily(facts, "mtta")
    naive = daily["value"].dropna().mean()  # (25 + 60 + 960 + 10 + 5 + 15) / 6
    assert naive == pytest.approx(1075 / 6)
    weekly = rollup(facts, kpis().get("mtta"), data.START, data.END, "week")
    assert weekly["value"].tolist() == pytest.approx([1085 / 6, 15])
    assert weekly["days"].tolist() == [7, 1]


def test_median_is_recomputed_from_detail_rows_not_from_daily_medians(facts) -> None:
    kpi = kpis().get("mttr_median")
    daily = _daily(facts, kpi.id)
    assert daily.set_index("day")["value"].dropna().tolist() == [1560, 690, 2490, 2340, 60]
    naive = statistics.median(daily["value"].dropna())
    assert naive == 1560
    exact = rollup(facts, kpi, data.START, data.END, "window")
    assert exact["value"].item() == 1020
    weekly = rollup(facts, kpi, data.START, data.END, "week")
    assert weekly["value"].tolist() == [(1020 + 2340) / 2, 60]  # six rows, then one
    assert weekly["denominator"].tolist() == [6, 1]


def test_p90_per_week_and_breakdown_comes_from_detail_rows(facts) -> None:
    kpi = kpis().get("mttr_p90")
    by_service = rollup(facts, kpi, data.START, data.END, "window", "service")
    values = dict(zip(by_service["breakdown_value"], by_service["value"], strict=True))
    erp = sorted([120, 1020, 2490, 2340, 60])  # I1 I2 I4 I5 I8
    assert values["ERP"] == pytest.approx(erp[3] + 0.6 * (erp[4] - erp[3]))  # 0.9 * 4 = 3.6
    assert values["Email"] == pytest.approx(360 + 0.9 * (3000 - 360))  # I3, I9


def test_snapshot_rolls_up_to_the_last_day_not_the_mean(facts) -> None:
    kpi = kpis().get("backlog")
    daily = _daily(facts, kpi.id)
    assert daily["value"].tolist() == [2, 2, 2, 2, 2, 2, 2, 3]
    weekly = rollup(facts, kpi, data.START, data.END, "week")
    assert weekly["value"].tolist() == [2, 3]
    assert daily["value"].mean() == pytest.approx(17 / 8)  # what averaging would claim


def test_counts_roll_up_to_a_mean_per_day(facts) -> None:
    weekly = rollup(facts, kpis().get("incident_volume"), data.START, data.END, "week")
    assert weekly["value"].tolist() == pytest.approx([6 / 7, 2 / 1])


def test_availability_per_service_and_day(facts) -> None:
    by_service = rollup(facts, kpis().get("availability"), data.START, data.END, "window",
                        "service")
    values = dict(zip(by_service["breakdown_value"], by_service["value"], strict=True))
    assert values["ERP"] == pytest.approx((2340 - 60) / 2340)
    assert values["Email"] == pytest.approx((11460 - 120) / 11460)
    downtime = _daily(facts, "downtime_minutes").set_index("day")["value"]
    assert downtime.tolist() == [60, 30, 0, 30, 0, 30, 30, 0]  # over midnight: 30 + 30


def test_breakdown_values_include_unknown_and_add_up(facts) -> None:
    by_group = _daily(facts, "incident_volume", "assignment_group")
    totals = by_group.groupby("breakdown_value")["numerator"].sum().to_dict()
    assert totals == {"G1": 4, "G2": 4}
    assert sum(totals.values()) == _daily(facts, "incident_volume")["numerator"].sum()


def test_scorecard_values_of_quantile_kpis_are_made_exact(facts) -> None:
    frame = pd.DataFrame({"kpi_id": ["mttr_median", "mttr"], "rollup": ["quantile", "ratio"],
                          "value": [1.0, 2.0], "previous_value": [3.0, 4.0]})
    last = data.END - dt.timedelta(days=1)
    exact = exact_quantiles(facts, frame, data.START, last, data.START, data.START)
    assert exact["value"].tolist() == [1020, 2.0]  # the ratio is left as the scorecard made it
    assert exact["previous_value"].tolist() == [1560, 4.0]  # 2026-03-02: I1 and I9


@pytest.mark.parametrize(("column", "expected"), [
    ("recurring_1d", 1 / 8),  # I2 (6 h after I1)
    ("recurring_7d", 4 / 8),  # I2, I5 (2.7 days after I2), I6 (4.5 days after I3), I8 (I4)
    ("recurring_30d", 5 / 8),  # and I10: erp-3 / C like I7, opened 22 days before the range
])
def test_recurrence_windows_look_back_before_the_range(facts, column: str,
                                                       expected: float) -> None:
    kpi = kpis().get("recurring_incidents").model_copy(
        update={"numerator": f"count(*) FILTER (WHERE {column})", "breakdowns": []})
    sql = kpi_queries(kpi, data.CALENDAR)[0][1]
    rows = facts.execute(f"SELECT sum(numerator) / sum(denominator) FROM ({sql})",
                         {"start": data.START, "end": data.END}).fetchall()
    assert rows[0][0] == pytest.approx(expected)
