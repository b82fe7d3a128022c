"""Behaviour of the synthetic ITSM source: determinism, export shape, realism, events, defects.

The pipeline's own tests trust this generator's promises (every value a string, rows on their
day, known events, listed defects), so each promise is checked here against the data itself.
One 90-day demo-sized run is shared by the module; everything else generates only what it needs.
"""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pandas as pd
import pytest

from resources.synthetic_data import (
    COLUMNS,
    ENTITIES,
    SERVICES,
    SyntheticParams,
    dirty_rows,
    generate_day,
    generate_range,
    scenario,
)

AS_OF = dt.datetime(2026, 3, 1, 6, 30)
PARAMS = SyntheticParams(seed=7, as_of=AS_OF)
START = AS_OF.date() - dt.timedelta(days=89)
CREATED = {"incidents": "opened_at", "changes": "sys_created_on", "problems": "opened_at",
           "outages": "begin", "surveys": "sent_at"}
TS_FORMAT = "%Y-%m-%d %H:%M:%S"


def ts(values: pd.Series) -> pd.Series:
    """Parse export timestamps strictly; "" and malformed values become NaT."""
    return pd.to_datetime(values, format=TS_FORMAT, errors="coerce")


@pytest.fixture(scope="module")
def demo() -> dict[str, pd.DataFrame]:
    """90 days up to as_of at the default volume, each row tagged with the day it came from."""
    frames: dict[str, list[pd.DataFrame]] = {entity: [] for entity in ENTITIES}
    for day, day_frames in generate_range(PARAMS, START, AS_OF.date()):
        for entity in ENTITIES:
            frames[entity].append(day_frames[entity].assign(_day=day))
    return {entity: pd.concat(parts, ignore_index=True) for entity, parts in frames.items()}


@pytest.fixture(scope="module")
def dirty() -> pd.DataFrame:
    return dirty_rows(PARAMS, START, AS_OF.date())


@pytest.fixture(scope="module")
def clean_incidents(demo: dict[str, pd.DataFrame], dirty: pd.DataFrame) -> pd.DataFrame:
    inc = demo["incidents"]
    listed = set(dirty.loc[dirty.entity == "incidents", "key"])
    return inc[(inc.number != "") & ~inc.number.isin(listed)]


def test_same_day_is_identical_whatever_range_or_order() -> None:
    day = AS_OF.date() - dt.timedelta(days=35)  # the failed-change day: events included
    alone = generate_day(PARAMS, day)
    in_range = dict(generate_range(PARAMS, day - dt.timedelta(days=3), day + dt.timedelta(days=2)))
    later_first = [generate_day(PARAMS, day + dt.timedelta(days=1)), generate_day(PARAMS, day)]
    scenario.cache_clear()  # and again from a cold start
    cold = generate_day(PARAMS, day)
    for entity in ENTITIES:
        for other in (in_range[day], later_first[1], cold):
            pd.testing.assert_frame_equal(alone[entity], other[entity])


def test_returned_frames_do_not_alias_cached_state() -> None:
    day = AS_OF.date() - dt.timedelta(days=3)
    first = generate_day(PARAMS, day)
    for frame in first.values():
        frame.loc[:, :] = "mutated"
    second = generate_day(PARAMS, day)
    assert all(not (second[e] == "mutated").any().any() for e in ENTITIES if len(second[e]))


def test_different_seeds_differ() -> None:
    day = AS_OF.date() - dt.timedelta(days=5)
    other = SyntheticParams(seed=8, as_of=AS_OF)
    assert not generate_day(PARAMS, day)["incidents"].equals(generate_day(other, day)["incidents"])
    assert scenario(PARAMS) != scenario(other)


def test_columns_exact_and_every_value_a_string(demo: dict[str, pd.DataFrame]) -> None:
    for entity in ENTITIES:
        frame = demo[entity].drop(columns="_day")
        assert len(frame) > 0, entity
        assert tuple(frame.columns) == COLUMNS[entity]
        assert all(dtype.kind == "O" for dtype in frame.dtypes), entity
        assert frame.map(lambda v: isinstance(v, str)).all().all(), entity


def test_days_after_as_of_are_empty_frames_with_the_columns() -> None:
    frames = generate_day(PARAMS, AS_OF.date() + dt.timedelta(days=1))
    for entity in ENTITIES:
        assert frames[entity].empty
        assert tuple(frames[entity].columns) == COLUMNS[entity]


def test_priority_mix(clean_incidents: pd.DataFrame) -> None:
    last_30 = clean_incidents[clean_incidents._day > AS_OF.date() - dt.timedelta(days=30)]
    share = last_30.priority.value_counts(normalize=True)
    expected = {"1 - Critical": 0.02, "2 - High": 0.08, "3 - Moderate": 0.40, "4 - Low": 0.40,
                "5 - Planning": 0.10}
    assert set(share.index) == set(expected)
    for priority, p in expected.items():
        assert share[priority] == pytest.approx(p, abs=max(0.01, p / 10)), priority


def test_volumes_follow_weekdays_and_business_hours(clean_incidents: pd.DataFrame) -> None:
    per_day = clean_incidents.groupby("_day").size()
    weekend = np.array([d.weekday() >= 5 for d in per_day.index])
    assert per_day[weekend].mean() < 0.45 * per_day[~weekend].mean()
    hours = ts(clean_incidents.opened_at).dt.hour.value_counts(normalize=True)
    assert hours[[9, 10, 13, 14]].min() > 3 * hours[[0, 1, 2, 3, 4]].max()


def test_clean_incidents_are_ordered_and_on_their_day(clean_incidents: pd.DataFrame) -> None:
    opened, acked = ts(clean_incidents.opened_at), ts(clean_incidents.acknowledged_at)
    resolved, closed = ts(clean_incidents.resolved_at), ts(clean_incidents.closed_at)
    updated = ts(clean_incidents.sys_updated_on)
    assert (opened.dt.date == clean_incidents._day).all()
    assert (opened <= acked).where(acked.notna(), True).all()
    assert (acked <= resolved).where(resolved.notna(), True).all()
    assert (resolved <= closed).where(closed.notna(), True).all()
    assert (resolved.isna() | acked.notna()).all()
    assert ((opened <= updated) & (updated <= AS_OF)).all()
    hold = clean_incidents.hold_duration.astype(int)
    assert 0.10 < (hold > 0).mean() < 0.20
    assert 0.01 < (clean_incidents.reopen_count != "0").mean() < 0.06
    assert clean_incidents.caller_id.str.fullmatch(r"user\.\d+").all()


def test_every_row_is_created_on_its_day(demo: dict[str, pd.DataFrame], dirty: pd.DataFrame
                                         ) -> None:
    impossible = dirty.key[dirty.defect.isin(["future_timestamp", "unparseable_timestamp"])]
    for entity, column in CREATED.items():
        frame = demo[entity]
        if entity == "incidents":  # the only rows allowed off their day
            frame = frame[~frame.number.isin(impossible)]
        created = ts(frame[column])
        assert (created.dt.date == frame._day).all(), entity
        assert (created <= AS_OF).all(), entity


def test_tickets_still_open_at_as_of_look_open(demo: dict[str, pd.DataFrame],
                                              clean_incidents: pd.DataFrame) -> None:
    open_ = clean_incidents[clean_incidents.resolved_at == ""]
    assert len(open_) > 50
    assert set(open_.state) <= {"New", "In Progress", "On Hold"}
    assert (open_.closed_at == "").all()
    resolved = clean_incidents[clean_incidents.resolved_at != ""]
    assert set(resolved.state) == {"Resolved", "Closed"}
    assert ((resolved.state == "Closed") == (resolved.closed_at != "")).all()
    assert (ts(resolved.closed_at).dropna() <= AS_OF).all()
    changes = demo["changes"]
    assert {"Scheduled", "Closed"} <= set(changes.state)
    assert ((changes.close_code == "") == (changes.state != "Closed")).all()


def test_volume_spike(clean_incidents: pd.DataFrame) -> None:
    event = scenario(PARAMS).get("volume_spike")
    per_day = clean_incidents[clean_incidents.business_service == event.service].groupby("_day")
    counts = per_day.size()
    assert counts[event.start.date()] >= 2.5 * counts.median()


def test_failed_change_burst(demo: dict[str, pd.DataFrame]) -> None:
    event = scenario(PARAMS).get("failed_change_burst")
    change = demo["changes"].set_index("number").loc[event.reference]
    assert change.close_code == "Unsuccessful" and change.type in {"Emergency", "Normal"}
    assert change.cmdb_ci == event.cmdb_ci and change._day == event.start.date()
    burst = demo["incidents"][demo["incidents"].caused_by == event.reference]
    assert len(burst) >= 12
    assert (burst.cmdb_ci == event.cmdb_ci).all()
    after = ts(burst.opened_at) - pd.Timestamp(change.start_date)
    assert ((after > pd.Timedelta(0)) & (after <= pd.Timedelta(hours=4))).all()
    assert (burst._day == event.start.date()).all()


def test_recurring_cluster_has_no_problem(demo: dict[str, pd.DataFrame]) -> None:
    event = scenario(PARAMS).get("recurring_cluster")
    inc = demo["incidents"]
    cluster = inc[(inc.cmdb_ci == event.cmdb_ci) & (inc.category == event.category)]
    assert (cluster.problem_id == "").all()
    assert event.cmdb_ci not in set(demo["problems"].cmdb_ci)
    days = sorted({d for d in cluster._day if event.start.date() <= d < event.end.date()})
    gaps = np.diff([d.toordinal() for d in days])
    assert days[0] - event.start.date() <= dt.timedelta(days=3)
    assert event.end.date() - days[-1] <= dt.timedelta(days=4)
    assert gaps.max() <= 3


def test_resolution_degradation(clean_incidents: pd.DataFrame) -> None:
    """Median time to resolve of the incidents *resolved* in each window (the MTTR KPI):
    windows by opening date would censor the slow tickets still open at as_of."""
    event = scenario(PARAMS).get("resolution_degradation")
    inc = clean_incidents[clean_incidents.business_service == event.service]
    opened, resolved = ts(inc.opened_at), ts(inc.resolved_at)
    hours = (resolved - opened).dt.total_seconds() / 3600
    two_weeks = dt.timedelta(days=14)
    first = hours[(resolved >= event.start) & (resolved < event.start + two_weeks)].median()
    last = hours[resolved >= AS_OF - two_weeks].median()
    assert last >= 1.8 * first


def test_outage_burst_and_outage_shape(demo: dict[str, pd.DataFrame]) -> None:
    event = scenario(PARAMS).get("outage_burst")
    outages = demo["outages"]
    row = outages.set_index("outage_id").loc[event.reference]
    assert (row.service, row.type, row.cmdb_ci) == (event.service, "unplanned", event.cmdb_ci)
    assert pd.Timestamp(row.end) - pd.Timestamp(row.begin) == pd.Timedelta(hours=3)
    minutes = (ts(outages.end) - ts(outages.begin)).dt.total_seconds() / 60
    usual = outages.outage_id != event.reference
    planned = outages.type == "planned"
    assert minutes[planned].between(30, 240).all()
    assert minutes[~planned & usual].between(5, 120).all()
    assert (ts(outages.begin[planned]).dt.hour.isin([0, 1, 2, 3, 4, 21, 22, 23])).all()
    same_service = outages[planned].sort_values("begin").groupby("service")
    overlapping = [(ts(g.begin).iloc[1:].to_numpy() < ts(g.end).iloc[:-1].to_numpy()).any()
                   for _, g in same_service]
    assert any(overlapping)


def test_scenario_is_relative_to_as_of_and_switchable() -> None:
    events = scenario(PARAMS).events
    assert [e.kind for e in events] == ["volume_spike", "resolution_degradation",
                                        "failed_change_burst", "recurring_cluster",
                                        "outage_burst"]
    assert all(AS_OF - dt.timedelta(days=90) <= e.start < e.end <= AS_OF for e in events)
    assert all(e.service in SERVICES for e in events)
    bigger = SyntheticParams(seed=7, as_of=AS_OF, incidents_per_day=500, dirty_share=0.05)
    assert scenario(bigger) == scenario(PARAMS)
    quiet = SyntheticParams(seed=7, as_of=AS_OF, events=False)
    assert scenario(quiet).events == ()
    burst = scenario(PARAMS).get("failed_change_burst")
    loud, calm = generate_day(PARAMS, burst.start.date()), generate_day(quiet, burst.start.date())
    assert f"{burst.start:%Y-%m-%d %H:%M:%S}" not in set(calm["changes"].start_date)
    on_ci = [f["incidents"].number[f["incidents"].cmdb_ci == burst.cmdb_ci].nunique()
             for f in (loud, calm)]
    assert on_ci[1] < on_ci[0] - 10  # the ~15 burst incidents are gone (defects may move ±1)


def test_problem_and_change_links_point_at_earlier_records(demo: dict[str, pd.DataFrame]
                                                          ) -> None:
    inc = demo["incidents"]
    earlier = pd.concat(
        [frames["problems"] for _, frames in generate_range(
            PARAMS, START - dt.timedelta(days=30), START - dt.timedelta(days=1))]
        + [demo["problems"].drop(columns="_day")])
    problem_opened = ts(earlier.set_index("number").opened_at)
    linked = inc[inc.problem_id != ""]
    assert 0.02 < len(linked) / len(inc) < 0.3
    assert set(linked.problem_id) <= set(problem_opened.index)
    linked = linked[ts(linked.opened_at).notna()]
    assert (problem_opened[linked.problem_id].dt.date.to_numpy() < linked._day.to_numpy()).all()
    changes = set(demo["changes"].number)
    assert set(inc.caused_by[inc.caused_by != ""]) <= changes


def test_surveys(demo: dict[str, pd.DataFrame]) -> None:
    surveys, inc = demo["surveys"], demo["incidents"].drop_duplicates("number")
    resolved = inc.set_index("number").resolved_at
    assert surveys.incident.isin(resolved.index).all()
    assert (ts(resolved[surveys.incident]).to_numpy() <= ts(surveys.sent_at).to_numpy()).all()
    answered = surveys[surveys.responded_at != ""]
    assert 0.18 < len(answered) / len(surveys) < 0.32
    assert ((surveys.score == "") == (surveys.responded_at == "")).all()
    assert 3.9 < answered.score.astype(int).mean() < 4.4


def test_dirty_rows_are_in_the_frames(demo: dict[str, pd.DataFrame], dirty: pd.DataFrame
                                      ) -> None:
    kinds = {"missing_key", "resolved_before_opened", "unknown_code", "exact_duplicate",
             "near_duplicate"}
    assert set(dirty[dirty.entity == "changes"].defect) == kinds
    assert set(dirty[dirty.entity == "incidents"].defect) == kinds | {
        "future_timestamp", "unparseable_timestamp"}
    assert 0.005 < (dirty.entity == "incidents").sum() / len(demo["incidents"]) < 0.03
    for (entity, day), listed in dirty.groupby(["entity", "day"]):
        frame = demo[entity][demo[entity]._day == dt.date.fromisoformat(day)]
        frame = frame.drop(columns="_day")
        start, end, code = (("opened_at", "resolved_at", "priority") if entity == "incidents"
                            else ("start_date", "end_date", "type"))
        extra_copies = listed.defect.isin(["exact_duplicate", "near_duplicate"]).sum()
        assert (frame.number == "").sum() == (listed.defect == "missing_key").sum()
        assert frame.number[frame.number != ""].duplicated().sum() == extra_copies
        for key, defect in zip(listed.key, listed.defect, strict=True):
            rows = frame[frame.number == key]
            if defect == "resolved_before_opened":
                assert (ts(rows[end]) < ts(rows[start])).any(), key
            elif defect == "unknown_code":
                assert rows[code].isin(["7 - Unknown", "P9", "Urgent"]).any(), key
            elif defect == "future_timestamp":
                assert (ts(rows[start]) > AS_OF).any(), key
            elif defect == "unparseable_timestamp":
                assert (ts(rows[start]).isna() & (rows[start] != "")).any(), key
            elif defect == "exact_duplicate":
                assert rows.duplicated().any(), key
            elif defect == "near_duplicate":
                latest = rows.loc[ts(rows.sys_updated_on).idxmax()]
                assert rows.short_description.nunique() > 1, key
                assert latest.short_description.endswith("(details updated)"), key


def test_no_dirty_rows_when_share_is_zero() -> None:
    params = SyntheticParams(seed=7, as_of=AS_OF, dirty_share=0.0)
    first, last = AS_OF.date() - dt.timedelta(days=6), AS_OF.date()
    assert dirty_rows(params, first, last).empty
    for _, frames in generate_range(params, first, last):
        assert not frames["incidents"].number.duplicated().any()
        assert (ts(frames["incidents"].opened_at) <= AS_OF).all()


def test_every_defect_kind_within_a_small_run() -> None:
    """Tests of the quarantine run on small volumes: ~200 rows must show every kind."""
    params = SyntheticParams(seed=3, as_of=AS_OF, incidents_per_day=30)
    first = AS_OF.date() - dt.timedelta(days=9)
    listed = dirty_rows(params, first, AS_OF.date())
    incidents = sum(len(f["incidents"]) for _, f in generate_range(params, first, AS_OF.date()))
    assert incidents < 300
    assert listed[listed.entity == "incidents"].defect.nunique() == 7


def test_throughput_smoke() -> None:
    params = SyntheticParams(seed=11, as_of=AS_OF, incidents_per_day=20_000)
    first = AS_OF.date() - dt.timedelta(days=6)
    started = time.perf_counter()
    rows = sum(len(f["incidents"]) for _, f in generate_range(params, first, AS_OF.date()))
    elapsed = time.perf_counter() - started
    print(f"synthetic incidents: {rows} rows in {elapsed:.2f} s = {rows / elapsed:,.0f} rows/s")
    assert rows > 50_000
