"""Properties of the clean layer and the KPI facts over generated data (issue 11), checked with
Hypothesis (pinned in constraints.txt) on the real step-4 SQL:

- re-running any day or range of days changes nothing (idempotence);
- a backfill over a range gives the same clean tables and the same quarantined rows as running
  the days one by one, in any order (late updates supersede earlier days either way), and the
  quarantine gives each row the same reason whichever way the days were run;
- every raw row of generated dirty data ends clean or quarantined (reconciliation), also
  when two files of a day number their lines alike;
- KPI roll-ups are exact: per month, the daily numerators (and the denominators of ratios and
  means) add up to the month computed from the detail rows, and kpi_rollup reads the same
  value back from clean.kpi_daily, also for a per-day rate broken down by any value.

Examples are few and derandomized (the same on every machine and every run): the suite's time
budget is small, and a failure must reproduce. Examples Hypothesis once found are kept with
@example, so they are tried first.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

import duckdb
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from assets.kpi_rollup import rollup
from assets.kpi_sql import ALL, kpi_query
from assets.step4_process.cleaning import clean_range, reconciliation
from assets.step4_process.entities import INCIDENTS
from quality.schemas import CLEAN_TABLES, KPI_DAILY, QUARANTINE, ddl
from resources.business_calendar import business_calendar
from resources.config_models import KpiDefinition, SourceConfig
from resources.settings import kpis, sources, strategy
from resources.sources.landing import ensure_raw_table, quote

FIRST = dt.date(2026, 3, 2)
DAYS = 4
LOADED = dt.datetime(2026, 11, 1)
PROFILE = settings(max_examples=8, derandomize=True, deadline=None, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _source() -> SourceConfig:
    return sources().get("synthetic").model_copy(update={"pseudonymize": False})


def _stamp(day: dt.date, minutes: int) -> str:
    return (dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=minutes)).strftime(
        "%Y-%m-%d %H:%M:%S")


GARBAGE = st.sampled_from(["", "  ", "n/a", "P9", "-5", "1e99", "NaN", "2099-01-01 00:00:00",
                           "1970-01-01 00:00:00", "2026-02-30 10:00:00", "<script>x</script>",
                           "'; DROP TABLE clean.incidents; --", "\x00\x1b[31m", "2.5"])


@st.composite
def raw_incident(draw: st.DrawFn) -> tuple[int, dict[str, str]]:
    """(day index, raw row): a ticket from a small pool of keys (so versions and copies of one
    ticket meet on one day and across days), mostly valid, sometimes with a field gone bad."""
    day = draw(st.integers(0, DAYS - 1))
    partition = FIRST + dt.timedelta(days=day)
    opened = draw(st.integers(-3 * 1440, 1439))
    updated = draw(st.integers(max(opened, 0), 1439))
    resolved = draw(st.none() | st.integers(opened, updated))
    row = {
        "number": draw(st.sampled_from(["INC1", "INC2", "INC3", "INC4", " INC1", ""])),
        "opened_at": _stamp(partition, opened),
        "sys_updated_on": _stamp(partition, updated),
        "acknowledged_at": "",
        "resolved_at": _stamp(partition, resolved) if resolved is not None else "",
        "priority": draw(st.sampled_from(["1 - Critical", "2 - High", "3 - Moderate"])),
        "state": "Resolved" if resolved is not None else "In Progress",
        "business_service": draw(st.sampled_from(["Email", "ERP"])),
        "short_description": draw(st.sampled_from(["a", "b"])),
        "hold_duration": draw(st.sampled_from(["0", "60", ""])),
        "reassignment_count": draw(st.sampled_from(["0", "1", "3"])),
        "reopen_count": "0",
    }
    if draw(st.booleans()):
        column = draw(st.sampled_from(sorted(row)))
        row[column] = draw(GARBAGE)
    return day, row


DIRTY = st.lists(raw_incident(), min_size=1, max_size=14)


def _warehouse(rows: Sequence[tuple[int, dict[str, str]]],
               files: Sequence[str] | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory warehouse whose raw.synthetic_incidents holds `rows` as step 3 lands them;
    with `files` (one per row), as a file source does: `_row` is the line in its own file."""
    con = duckdb.connect()
    for schema in ("raw", "clean"):
        con.execute(f"CREATE SCHEMA {schema}")
    columns = sorted({c for _, row in rows for c in row})
    ensure_raw_table(con, "synthetic_incidents", columns)
    line: dict[tuple[int, str | None], int] = {}
    records = []
    for (day, row), file in zip(rows, files or [None] * len(rows), strict=True):
        line[day, file] = line.get((day, file), 0) + 1
        records.append([row.get(c) or None for c in columns]
                       + [FIRST + dt.timedelta(days=day), line[day, file], file])
    names = ", ".join(quote(c) for c in columns)
    marks = ", ".join("?" for _ in columns)
    con.executemany(f"INSERT INTO raw.synthetic_incidents ({names}, _partition, _row, _file, "
                    f"_source, _loaded_at) VALUES ({marks}, ?, ?, ?, 'synthetic', ?)",
                    [[*r, LOADED] for r in records])
    con.execute(ddl("clean", "incidents", CLEAN_TABLES["incidents"]))
    con.execute(ddl("clean", "incidents_quarantine", QUARANTINE))
    return con


def _clean(con: duckdb.DuckDBPyConnection, first: int, last: int) -> None:
    """Step 4 over days first..last (indexes), in one transaction as the asset runs it."""
    con.begin()
    clean_range(con, INCIDENTS, [_source()], FIRST + dt.timedelta(days=first),
                FIRST + dt.timedelta(days=last + 1))
    con.commit()


def _state(con: duckdb.DuckDBPyConnection) -> tuple[list[tuple], list[tuple]]:
    """The clean rows, and which raw rows are quarantined."""
    clean = con.execute("SELECT * FROM clean.incidents ORDER BY ALL").fetchall()
    quarantine = con.execute("SELECT _partition, _row FROM clean.incidents_quarantine "
                             "ORDER BY ALL").fetchall()
    return clean, quarantine


def _reasons(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """What the quarantine tells a person about each row: its reason and detail."""
    return con.execute("SELECT _partition, _row, reason_code, detail "
                       "FROM clean.incidents_quarantine ORDER BY ALL").fetchall()


def _reconciles(con: duckdb.DuckDBPyConnection) -> None:
    end = FIRST + dt.timedelta(days=DAYS)
    assert reconciliation(con, "incidents", [_source()], FIRST, end) == []
    raw, clean, quarantined = (con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in
                               ("raw.synthetic_incidents", "clean.incidents",
                                "clean.incidents_quarantine"))
    assert raw == clean + quarantined
    keys = con.execute("SELECT incident_id FROM clean.incidents").fetchall()
    assert len(keys) == len(set(keys))  # one clean row per ticket


def _copy(day: int, **values: str) -> tuple[int, dict[str, str]]:
    stamp = _stamp(FIRST + dt.timedelta(days=day), 0)
    return day, {"number": "INC1", "opened_at": stamp, "sys_updated_on": stamp,
                 "priority": "1 - Critical", "state": "In Progress", **values}


@settings(PROFILE, phases=[Phase.explicit, Phase.generate])
@example(rows=[_copy(0), _copy(0), _copy(1)], order=[1, 0, 2, 3])  # found by Hypothesis
@given(rows=DIRTY, order=st.permutations(range(DAYS)))
def test_the_quarantine_gives_the_same_reasons_however_the_days_were_run(rows, order) -> None:
    """Two identical copies of a ticket on day 0 and a newer version on day 1: whichever way
    the days are run, the first copy is superseded by day 1's version, which was kept (not
    'identical to' the second copy, which was not kept)."""
    backfill = _warehouse(rows)
    _clean(backfill, 0, DAYS - 1)
    daily = _warehouse(rows)
    for day in order:
        _clean(daily, day, day)
    assert _reasons(daily) == _reasons(backfill)
    _clean(backfill, order[0], order[0])
    assert _reasons(backfill) == _reasons(daily)


@settings(PROFILE, phases=[Phase.explicit, Phase.generate])
@example(rows=[_copy(0), _copy(0, short_description="b"), _copy(0, number="INC2", priority="P9"),
               _copy(0, number="INC3"), _copy(1)],
         files=["a.csv", "b.csv", "a.csv", "b.csv", "a.csv"], order=[0, 1, 2, 3])
@given(rows=DIRTY, files=st.lists(st.sampled_from(["a.csv", "b.csv"]), min_size=14,
                                  max_size=14), order=st.permutations(range(DAYS)))
def test_files_that_number_their_lines_alike_keep_their_rows_apart(rows, files, order) -> None:
    """Two exports of one day both number their lines from 1: every raw row still ends in
    exactly one place, with its own raw row, and the same one whichever way the days were run
    (on day 0 above, line 1 of b.csv wins over line 1 of a.csv, then loses to day 1's)."""
    files = files[:len(rows)]
    backfill = _warehouse(rows, files)
    _clean(backfill, 0, DAYS - 1)
    _reconciles(backfill)
    daily = _warehouse(rows, files)
    for day in order:
        _clean(daily, day, day)
    _reconciles(daily)
    assert _state(daily) == _state(backfill)
    assert _reasons(daily) == _reasons(backfill)
    quarantined = daily.execute(
        "SELECT q._partition, q._row, q.raw_row ->> '_file' FROM clean.incidents_quarantine q "
        "JOIN raw.synthetic_incidents r ON CAST(to_json(r) AS VARCHAR) = q.raw_row").fetchall()
    clean = daily.execute("SELECT count(*) FROM clean.incidents").fetchall()[0][0]
    assert len(set(quarantined)) == len(quarantined) == len(rows) - clean  # each its own row


@PROFILE
@given(rows=DIRTY, rerun=st.lists(st.tuples(st.integers(0, DAYS - 1), st.integers(0, DAYS - 1)),
                                  min_size=1, max_size=3))
def test_rerunning_any_days_changes_nothing(rows, rerun) -> None:
    con = _warehouse(rows)
    _clean(con, 0, DAYS - 1)
    before = _state(con)
    for a, b in rerun:
        _clean(con, min(a, b), max(a, b))
        assert _state(con) == before
    _reconciles(con)


@PROFILE
@given(rows=DIRTY, order=st.permutations(range(DAYS)))
def test_a_backfill_equals_the_days_run_one_by_one_in_any_order(rows, order) -> None:
    backfill = _warehouse(rows)
    _clean(backfill, 0, DAYS - 1)
    _reconciles(backfill)
    daily = _warehouse(rows)
    for day in order:
        _clean(daily, day, day)
    _reconciles(daily)
    assert _state(daily) == _state(backfill)


@PROFILE
@given(rows=st.lists(st.tuples(st.integers(0, DAYS - 1), st.dictionaries(
    st.sampled_from(["number", "opened_at", "priority", "state", "resolved_at",
                     "sys_updated_on", "hold_duration", "reassignment_count", "caller_id"]),
    st.text(max_size=12) | GARBAGE, min_size=1)), min_size=1, max_size=20))
def test_any_raw_text_ends_clean_or_quarantined(rows) -> None:
    """Not even plausible tickets: arbitrary text in any column, columns missing at random."""
    con = _warehouse(rows)
    _clean(con, 0, DAYS - 1)
    _reconciles(con)


# ------------------------------------------------------------------------ exact roll-ups

SPAN_START, SPAN_END = dt.date(2026, 1, 20), dt.date(2026, 3, 12)  # crosses two month ends
ROLLUP_KPIS = [kpis().get(k) for k in ("incident_volume", "major_incidents", "mttr",
                                        "mttr_business", "reopen_rate",
                                        "first_contact_resolution")]
"""One incident KPI of each kind the facts hold: counts with and without a filter, means of
calendar and business minutes, ratios with and without a filter."""


@st.composite
def valid_incidents(draw: st.DrawFn) -> list[tuple[int, dict[str, str]]]:
    """Valid incidents opened over SPAN, some resolved days later; partitioned by update day."""
    span = (SPAN_END - SPAN_START).days * 1440
    out = []
    for n in range(draw(st.integers(1, 30))):
        opened = draw(st.integers(0, span - 1))
        acknowledged = draw(st.none() | st.integers(opened, opened + 600))
        resolved = draw(st.none() | st.integers(opened, opened + 20 * 1440))
        last = max(m for m in (opened, acknowledged, resolved) if m is not None)
        row = {
            "number": f"INC{n}", "opened_at": _stamp(SPAN_START, opened),
            "acknowledged_at": _stamp(SPAN_START, acknowledged) if acknowledged else "",
            "resolved_at": _stamp(SPAN_START, resolved) if resolved is not None else "",
            "sys_updated_on": _stamp(SPAN_START, last),
            "priority": draw(st.sampled_from(["1 - Critical", "3 - Moderate", "4 - Low"])),
            "state": "Resolved" if resolved is not None else "New",
            "business_service": draw(st.sampled_from(["Email", "ERP", ""])),
            "contact_type": draw(st.sampled_from(["phone", "email", "walk-in"])),
            "cmdb_ci": draw(st.sampled_from(["erp-1", "mail-1"])), "category": "software",
            "assignment_group": "G1",
            "hold_duration": str(draw(st.integers(0, 7200))),
            "reassignment_count": str(draw(st.integers(0, 3))),
            "reopen_count": str(draw(st.integers(0, 1))),
            "problem_id": draw(st.sampled_from(["", "PRB1"])),
            "caused_by": draw(st.sampled_from(["", "CHG1"])),
        }
        out.append(((dt.datetime.strptime(row["sys_updated_on"], "%Y-%m-%d %H:%M:%S").date()
                     - FIRST).days, row))
    return out


def _kpi_warehouse(rows: list[tuple[int, dict[str, str]]]) -> duckdb.DuckDBPyConnection:
    """Generated incidents cleaned by step 4, with step 1's services (the domain of the service
    breakdown), the calendar macro and an empty clean.kpi_daily."""
    con = _warehouse(rows)
    con.begin()
    clean_range(con, INCIDENTS, [_source()], SPAN_START, SPAN_END + dt.timedelta(days=40))
    con.commit()
    con.execute(business_calendar().macro_sql())
    con.execute(ddl("clean", "kpi_daily", KPI_DAILY))
    con.execute("CREATE SCHEMA strategy")
    con.execute("CREATE TABLE strategy.services (service VARCHAR, hours VARCHAR)")
    con.executemany("INSERT INTO strategy.services VALUES (?, ?)",
                    [(s.name, s.hours) for s in strategy().services])
    return con


def _by_month(con: duckdb.DuckDBPyConnection, kpi: KpiDefinition, breakdown: str | None
              ) -> tuple[dict[tuple, list[float]], dict[tuple, list[float]], dict[tuple, float]]:
    """Per (month, breakdown value): the daily facts summed, the month computed directly from
    the detail rows, and the month's value as kpi_rollup reads it back from clean.kpi_daily."""
    params = {"start": ROLLUP_START, "end": ROLLUP_END}
    daily_sql = kpi_query(kpi, breakdown, "day")
    con.execute(f"INSERT INTO clean.kpi_daily {daily_sql}", params)
    summed: dict[tuple, list[float]] = {}
    for day, value, numerator, denominator in con.execute(
            f"SELECT day, breakdown_value, numerator, denominator FROM ({daily_sql})",
            params).fetchall():
        total = summed.setdefault((day.replace(day=1), value), [0.0, 0.0])
        total[0] += numerator
        total[1] += denominator
    direct = {(month, value): [numerator, denominator] for month, value, numerator, denominator
              in con.execute("SELECT day, breakdown_value, numerator, denominator FROM ("
                             f"{kpi_query(kpi, breakdown, 'month')})", params).fetchall()}
    frame = rollup(con, kpi, ROLLUP_START, ROLLUP_END, "month", breakdown)
    read_back = {(p.date() if hasattr(p, "date") else p, v): x for p, v, x in zip(
        frame["period"], frame["breakdown_value"], frame["value"], strict=True)}
    return summed, direct, read_back


ROLLUP_START, ROLLUP_END = dt.date(2026, 1, 1), dt.date(2026, 5, 1)


@settings(PROFILE, max_examples=4)
@given(rows=valid_incidents())
def test_daily_numerators_and_denominators_add_up_to_the_month(rows) -> None:
    """Ratios and means of every incident KPI, in total and by service: sum(numerator) and
    sum(denominator) of the days are the month's, and so is the value kpi_rollup reads back."""
    con = _kpi_warehouse(rows)
    for kpi in ROLLUP_KPIS:
        for breakdown in (None, "service") if "service" in kpi.breakdowns else (None,):
            summed, direct, read_back = _by_month(con, kpi, breakdown)
            assert summed.keys() == direct.keys(), kpi.id
            for period, (numerator, denominator) in direct.items():
                assert summed[period][0] == pytest.approx(numerator, rel=1e-9), (kpi.id, period)
                if kpi.denominator_sql is not None:  # a ratio or a mean
                    assert summed[period][1] == pytest.approx(denominator, rel=1e-9), \
                        (kpi.id, period)
                    if denominator:
                        assert read_back[period] == pytest.approx(numerator / denominator,
                                                                  rel=1e-9), (kpi.id, period)
                    else:  # nothing to divide by: no value, never 0 or infinity
                        assert read_back[period] is None or math.isnan(read_back[period])
    totals = con.execute(f"SELECT count(DISTINCT kpi_id), sum(numerator) FROM clean.kpi_daily "
                         f"WHERE breakdown_value = '{ALL}'").fetchall()[0]
    assert totals[0] == len(ROLLUP_KPIS) and totals[1] > 0  # every KPI, not all zeros


def _incident(group: str, opened: str) -> tuple[int, dict[str, str]]:
    day = dt.date.fromisoformat(opened[:10])
    return (day - FIRST).days, {
        "number": f"INC-{group}-{opened[:10]}", "opened_at": opened, "sys_updated_on": opened,
        "priority": "3 - Moderate", "state": "New", "business_service": "Email",
        "assignment_group": group}


@settings(PROFILE, max_examples=4, phases=[Phase.explicit, Phase.generate])
@example(rows=[_incident("G1", "2026-02-10 09:00:00")])  # found by Hypothesis
@given(rows=valid_incidents())
def test_a_per_day_rate_by_any_breakdown_rolls_up_over_every_day_of_the_month(rows) -> None:
    """A count KPI is a rate per day. By a breakdown without a fixed list of values (an
    assignment group, a category, a service missing from strategy.yaml), kpi_daily has rows
    only on the days that value occurs: the month read back from kpi_daily must still divide by
    the days of the month, as the monthly query over the detail rows does."""
    con = _kpi_warehouse(rows)
    volume = kpis().get("incident_volume")
    _, direct, read_back = _by_month(con, volume, "assignment_group")
    for period, (numerator, days) in direct.items():
        assert read_back[period] == pytest.approx(numerator / days, rel=1e-9), period
