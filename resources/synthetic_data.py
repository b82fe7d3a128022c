"""Deterministic, ServiceNow-shaped synthetic ITSM source data for sevenstep.

Tests (small volumes), the demo (90 days) and the benchmarks (millions of rows) need source data
whose properties are known in advance. Every value is a string, "" for null, because that is what
a raw export hands the gather step; parsing is the pipeline's job. Each (seed, day, entity) has its
own random stream and the injected events come from `scenario(params)` alone, so a day's rows are
the same whichever range is generated and in whatever order. Generation is vectorised per day.
Timestamps are naive UTC; the business-hours profile treats UTC as the local time.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Collection, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from resources.business_calendar import BusinessCalendar, business_calendar
from resources.synthetic_events import (
    CHANGE_DEFECTS,
    CHANGE_LEAD,
    DAY_S,
    DEGRADATION_RAMP,
    INCIDENT_DEFECTS,
    SERVICES,
    Scenario,
    ScenarioEvent,
    ServiceSpec,
    build_scenario,
    choose_defects,
    format_keys,
    format_ts,
    inject_defects,
    to_seconds,
)
from resources.synthetic_history import HISTORY_COLUMNS, incident_history, source_durations

__all__ = [  # the catalogue and event types are defined in synthetic_events, re-exported here
    "ALL_ENTITIES", "COLUMNS", "ENTITIES", "SERVICES", "Scenario", "ScenarioEvent",
    "ServiceSpec", "SyntheticParams", "dirty_rows", "duration_mismatches", "generate_day",
    "generate_range", "scenario",
]


@dataclass(frozen=True)
class SyntheticParams:
    """Everything the generated data depends on; equal params give equal data."""

    seed: int = 7
    incidents_per_day: float = 120.0  # mean on a weekday; weekends get ~30% of it
    as_of: dt.datetime = dt.datetime(2026, 1, 1)  # extraction moment (naive UTC): set it
    dirty_share: float = 0.01  # share of incident and change rows made dirty
    events: bool = True  # inject the scenario events
    # (service, first day, factor) steps: from that day on, work on the service's incidents takes
    # `factor` times as long (0.4 an improvement, 2.5 a degradation), tickets already open
    # included; steps on one service multiply. Lets a test stage a change and its remedy.
    resolution_changes: tuple[tuple[str, dt.date, float], ...] = ()
    # The working hours business_duration is computed with; None: config/calendar.yaml.
    calendar: BusinessCalendar | None = None
    # Share of resolved incidents whose business_duration is made to disagree (whole hours).
    duration_mismatch_share: float = 0.01


ENTITIES: tuple[str, ...] = ("incidents", "changes", "problems", "outages", "surveys")
HISTORY = "history"
ALL_ENTITIES: tuple[str, ...] = (*ENTITIES, HISTORY)
"""The canonical entities plus the incidents' audit log (resources/synthetic_history.py)."""
COLUMNS: dict[str, tuple[str, ...]] = {
    "incidents": (
        "number", "opened_at", "sys_updated_on", "acknowledged_at", "resolved_at", "closed_at",
        "priority", "state", "business_service", "cmdb_ci", "assignment_group", "category",
        "short_description", "caller_id", "assigned_to", "contact_type", "reassignment_count",
        "reopen_count", "hold_duration", "problem_id", "caused_by", "business_duration",
        "calendar_duration"),
    "changes": (
        "number", "type", "state", "close_code", "business_service", "cmdb_ci", "assignment_group",
        "short_description", "sys_created_on", "start_date", "end_date", "sys_updated_on"),
    "problems": (
        "number", "business_service", "cmdb_ci", "category", "opened_at", "resolved_at", "state",
        "short_description", "sys_updated_on"),
    "outages": (
        "outage_id", "service", "begin", "end", "type", "cmdb_ci", "description", "sys_updated_on"),
    "surveys": (
        "response_id", "incident", "business_service", "sent_at", "responded_at", "score",
        "comment"),
    HISTORY: HISTORY_COLUMNS,
}


# Lookup tables hold Python str objects: indexing them builds an export column without creating
# a string per row, which is where generation would otherwise spend its time.
def _table(values: object) -> np.ndarray:
    return np.array(values, dtype=object)


def _flatten(field: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One service field flattened, with per-service offsets and counts for vectorised picks."""
    lists = [getattr(spec, field) for spec in SERVICES.values()]
    counts = np.array([len(values) for values in lists])
    return _table([v for vs in lists for v in vs]), np.cumsum(counts) - counts, counts


_NAMES = _table(list(SERVICES))
_SHARE = np.array([s.share for s in SERVICES.values()]) / sum(s.share for s in SERVICES.values())
_ALWAYS_ON = np.array([s.is_24x7 for s in SERVICES.values()])
_SERVICE_INDEX = {name: i for i, name in enumerate(SERVICES)}
_CI, _CI_OFF, _CI_N = _flatten("cis")
_GROUP, _GROUP_OFF, _GROUP_N = _flatten("groups")
_CATEGORY, _CATEGORY_OFF, _CATEGORY_N = _flatten("categories")
_CI_INDEX = {name: i for i, name in enumerate(_CI)}

_HOURLY = np.array([0.3, 0.2, 0.2, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 8.0, 8.5, 7.0,
                    4.5, 7.0, 7.5, 6.5, 5.0, 3.0, 1.8, 1.2, 0.9, 0.7, 0.5, 0.4])
_HOURLY = _HOURLY / _HOURLY.sum()  # peaks 9-11 and 13-15, quiet nights
_WEEKDAY = (1.15, 1.05, 1.0, 0.95, 0.85, 0.3, 0.3)  # Monday busiest; weekday mean is 1.0
_PRIORITY = _table(["1 - Critical", "2 - High", "3 - Moderate", "4 - Low", "5 - Planning"])
_PRIORITY_P = np.array([0.02, 0.08, 0.40, 0.40, 0.10])
_BURST_PRIORITY_P = np.array([0.2, 0.5, 0.3, 0.0, 0.0])
_ACK_MEDIAN_S = np.array([5, 15, 45, 120, 240]) * 60.0
_RESOLVE_MEDIAN_S = np.array([3, 8, 36, 72, 168]) * 3600.0
_INCIDENT_STATES = _table(["Closed", "Resolved", "On Hold", "In Progress", "New"])
_SYMPTOMS = ("users report failures", "intermittent errors", "slow response",
             "not working since this morning", "error message shown", "timeout from monitoring")
_INCIDENT_TEXT = _table([[[f"{c} - {s} on {ci}" for ci in _CI] for s in _SYMPTOMS]
                         for c in _CATEGORY])
_CHANGE_TYPES = ("Normal", "Standard", "Emergency")
_CHANGE_TEXT = _table([[f"{t} change: update {ci}" for ci in _CI] for t in _CHANGE_TYPES])
_CHANGE_STATES = _table(["Cancelled", "Closed", "Implement", "Scheduled"])
_CLOSE_CODES = _table(["Successful", "Successful with issues", "Unsuccessful", ""])
_PROBLEM_TEXT = _table([[f"Recurring {c} failures on {ci}" for ci in _CI] for c in _CATEGORY])
_PROBLEM_STATES = _table(["Closed", "Resolved", "New", "Assess", "Root Cause Analysis",
                          "Fix in Progress"])
_OUTAGE_TEXT = _table([[f"{ci} unavailable" for ci in _CI],
                       [f"Planned maintenance on {ci}" for ci in _CI]])
_OUTAGE_TYPES = _table(["unplanned", "planned"])
_CALLERS = _table([f"user.{i}" for i in range(1000, 20_000)])
_AGENTS = _table([f"agent.{i}" for i in range(1, 121)])
_CONTACT = _table(["phone", "email", "self-service", "walk-in"])
_DIGITS = _table([str(i) for i in range(10)])
_SCORE_P = np.array([0.04, 0.05, 0.09, 0.35, 0.47])  # mean ~4.2
_COMMENTS = _table([["Slow to resolve", "Had to chase twice"], ["Issue came back", "Slow"],
                    ["OK", "Took a while"], ["Fixed, thanks", "Good"],
                    ["Quick and friendly", "Great support"]])  # two per score
# Random streams; later ones are appended so that the earlier entities' rows never change.
_INCIDENTS, _CHANGES, _PROBLEMS, _OUTAGES, _SURVEYS, _DEFECTS, _HISTORY, _DURATIONS = range(8)
_PROBLEM_LOOKBACK_DAYS = 30


def _rng(params: SyntheticParams, day: dt.date, stream: int) -> np.random.Generator:
    """One independent stream per (seed, day, entity): the root of per-day determinism."""
    return np.random.default_rng((params.seed, day.toordinal(), stream))


def _pick(rng: np.random.Generator, svc: np.ndarray, offsets: np.ndarray, counts: np.ndarray
          ) -> np.ndarray:
    """A uniformly chosen member (flat index) of each row's service list."""
    return offsets[svc] + (rng.random(len(svc)) * counts[svc]).astype(np.int64)


def _clock(rng: np.random.Generator, svc: np.ndarray) -> np.ndarray:
    """Seconds into the day from the business-hours profile; 24x7 services flatter at night."""
    hour = rng.choice(24, len(svc), p=_HOURLY)
    flat = _ALWAYS_ON[svc] & (rng.random(len(svc)) < 0.3)
    hour = np.where(flat, rng.integers(0, 24, len(svc)), hour)
    return hour * 3600 + rng.integers(0, 3600, len(svc))


def _latest(moments: list[np.ndarray], as_of: int) -> np.ndarray:
    """Last of the given moments that already happened (sys_updated_on)."""
    return np.max([np.where(m <= as_of, m, np.iinfo(np.int64).min) for m in moments], axis=0)


def _kept(cols: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """The same rows (boolean mask or index order) of every column."""
    return {name: values[rows] for name, values in cols.items()}


def _frame(entity: str, cols: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame({c: np.asarray(cols[c], dtype=object) for c in COLUMNS[entity]})


@functools.lru_cache(maxsize=64)
def scenario(params: SyntheticParams) -> Scenario:
    """The injected events, from (seed, as_of) only; empty when params.events is False."""
    if not params.events:
        return Scenario()
    return build_scenario(params.seed, params.as_of, SERVICES)


@functools.lru_cache(maxsize=2048)
def _problems(params: SyntheticParams, day: dt.date) -> dict[str, np.ndarray]:
    """Day's problems from their own stream, cached: later days' incidents link to them."""
    rng = _rng(params, day, _PROBLEMS)
    as_of, start = to_seconds(params.as_of), to_seconds(day)
    n = rng.poisson(0.1 if day.weekday() >= 5 else 0.6)  # a few per week
    svc = rng.choice(len(_NAMES), n, p=_SHARE)
    ci = _pick(rng, svc, _CI_OFF, _CI_N)
    cluster = scenario(params).get("recurring_cluster")
    if cluster is not None:  # nobody raised a problem for the recurring cluster: move off its CI
        hit = ci == _CI_INDEX[cluster.cmdb_ci]
        ci[hit] = _CI_OFF[svc[hit]] + (ci[hit] - _CI_OFF[svc[hit]] + 1) % _CI_N[svc[hit]]
    category = _pick(rng, svc, _CATEGORY_OFF, _CATEGORY_N)
    opened = start + _clock(rng, svc)
    resolved = opened + rng.lognormal(np.log(20 * DAY_S), 0.7, n).astype(np.int64)
    closed = resolved + 7 * DAY_S
    age = (as_of - opened) / DAY_S
    state = np.select([closed <= as_of, resolved <= as_of, age < 2, age < 7, age < 20],
                      [0, 1, 2, 3, 4], 5)
    keep = opened <= as_of
    cols = {
        "business_service": _NAMES[svc], "cmdb_ci": _CI[ci], "category": _CATEGORY[category],
        "opened_at": format_ts(opened), "resolved_at": format_ts(resolved, resolved <= as_of),
        "state": _PROBLEM_STATES[state], "short_description": _PROBLEM_TEXT[category, ci],
        "sys_updated_on": format_ts(_latest([opened, resolved, closed], as_of)),
        "_ci": ci, "_opened": opened, "_resolved": resolved,
    }
    return {"number": format_keys(f"PRB{day:%Y%m%d}", int(keep.sum()), 3)} | _kept(cols, keep)


def _changes(params: SyntheticParams, day: dt.date, event: ScenarioEvent | None
             ) -> dict[str, np.ndarray]:
    """Day's changes: Normal ones scheduled for an evening days ahead, Standard within days,
    Emergency within hours; the scenario's failed change goes first (number 0001)."""
    rng = _rng(params, day, _CHANGES)
    as_of, start = to_seconds(params.as_of), to_seconds(day)
    n = rng.poisson(params.incidents_per_day / 8 * (0.3 if day.weekday() >= 5 else 1.0))
    svc = rng.choice(len(_NAMES), n, p=_SHARE)
    ci = _pick(rng, svc, _CI_OFF, _CI_N)
    kind = rng.choice(3, n, p=[0.55, 0.35, 0.10])
    created = start + _clock(rng, svc)
    evening = start + rng.integers(1, 15, n) * DAY_S + rng.integers(18, 24, n) * 3600
    begin = np.select([kind == 0, kind == 1], [evening, created + rng.integers(3600, 3 * DAY_S, n)],
                      created + rng.integers(900, 4 * 3600, n))
    end = begin + rng.integers(30, 241, n) * 60
    code = rng.choice(3, n, p=[0.88, 0.07, 0.05])
    cancelled = rng.random(n) < 0.04
    touched = np.where(cancelled, created + rng.integers(3600, 2 * DAY_S, n),
                       end + rng.integers(300, 7200, n))
    injected = event is not None and (event.start - CHANGE_LEAD).date() == day
    if injected:
        first = to_seconds(event.start)
        svc = np.r_[_SERVICE_INDEX[event.service], svc]
        ci, kind, code = np.r_[_CI_INDEX[event.cmdb_ci], ci], np.r_[2, kind], np.r_[2, code]
        created = np.r_[to_seconds(event.start - CHANGE_LEAD), created]
        begin, end = np.r_[first, begin], np.r_[first + 3600, end]
        touched, cancelled = np.r_[first + 5400, touched], np.r_[False, cancelled]
    closed = ~cancelled & (end <= as_of)
    state = np.select([cancelled, closed, begin <= as_of], [0, 1, 2], 3)
    cols = {
        "type": np.asarray(_CHANGE_TYPES, dtype=object)[kind], "state": _CHANGE_STATES[state],
        "close_code": _CLOSE_CODES[np.where(closed, code, 3)], "business_service": _NAMES[svc],
        "cmdb_ci": _CI[ci], "assignment_group": _GROUP[_pick(rng, svc, _GROUP_OFF, _GROUP_N)],
        "short_description": _CHANGE_TEXT[kind, ci], "sys_created_on": format_ts(created),
        "start_date": format_ts(begin), "end_date": format_ts(end),
        "sys_updated_on": format_ts(_latest([created, begin, touched], as_of)),
        "_ci": ci, "_end": end, "_failed": closed & (code > 0),
        "_event": np.arange(len(ci)) < injected,
    }
    keep = created <= as_of
    return {"number": format_keys(f"CHG{day:%Y%m%d}", int(keep.sum()), 4)} | _kept(cols, keep)


def _event_rows(rng: np.random.Generator, event: ScenarioEvent, opened: np.ndarray,
                priority_p: np.ndarray, caused_by: str) -> dict[str, np.ndarray]:
    """Incidents an event injects on its CI (category fixed when the event names one)."""
    m, svc = len(opened), _SERVICE_INDEX[event.service]
    categories = SERVICES[event.service].categories
    category = (np.full(m, _CATEGORY_OFF[svc] + categories.index(event.category))
                if event.category else _pick(rng, np.full(m, svc), _CATEGORY_OFF, _CATEGORY_N))
    return {"svc": np.full(m, svc), "ci": np.full(m, _CI_INDEX[event.cmdb_ci]),
            "category": category, "opened": opened, "prio": rng.choice(5, m, p=priority_p),
            "caused_by": np.full(m, caused_by, dtype=object), "event": np.ones(m, dtype=bool)}


def _occurring(event: ScenarioEvent, day: dt.date) -> np.ndarray:
    return np.array([to_seconds(t) for t in event.occurrences if t.date() == day], dtype=np.int64)


def _incidents(params: SyntheticParams, day: dt.date, scen: Scenario,
               changes: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Day's incidents: baseline volume plus event rows, then their whole lifecycle."""
    rng = _rng(params, day, _INCIDENTS)
    as_of, start = to_seconds(params.as_of), to_seconds(day)
    n = rng.poisson(params.incidents_per_day * _WEEKDAY[day.weekday()])
    svc = rng.choice(len(_NAMES), n, p=_SHARE)
    parts = [{"svc": svc, "ci": _pick(rng, svc, _CI_OFF, _CI_N),
              "category": _pick(rng, svc, _CATEGORY_OFF, _CATEGORY_N),
              "opened": start + _clock(rng, svc), "prio": rng.choice(5, n, p=_PRIORITY_P),
              "caused_by": np.full(n, "", dtype=object), "event": np.zeros(n, dtype=bool)}]
    spike = scen.get("volume_spike")
    if spike is not None and spike.start.date() == day:  # ~magnitude x a weekday's volume
        usual = params.incidents_per_day * _SHARE[_SERVICE_INDEX[spike.service]]
        m = rng.poisson(max(0.0, usual * (spike.magnitude - _WEEKDAY[day.weekday()])))
        opened = start + _clock(rng, np.full(m, _SERVICE_INDEX[spike.service]))
        parts.append(_event_rows(rng, spike, opened, _PRIORITY_P, ""))
    burst, cluster = scen.get("failed_change_burst"), scen.get("recurring_cluster")
    if burst is not None:
        parts.append(_event_rows(rng, burst, _occurring(burst, day), _BURST_PRIORITY_P,
                                 burst.reference))
    if cluster is not None:
        parts.append(_event_rows(rng, cluster, _occurring(cluster, day), _PRIORITY_P, ""))
    rows = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    order = np.argsort(rows["opened"], kind="stable")  # numbers follow creation order
    rows = _kept(rows, order[rows["opened"][order] <= as_of])  # nothing after the extraction
    svc, ci, opened, prio, event = (rows[k] for k in ("svc", "ci", "opened", "prio", "event"))
    n = len(opened)
    ack = opened + rng.lognormal(np.log(_ACK_MEDIAN_S[prio]), 0.9).astype(np.int64)
    work = rng.lognormal(np.log(_RESOLVE_MEDIAN_S[prio]), 0.9) * _slowdown(scen, svc, opened)
    work = _paced(params, svc, opened, work)
    hold = (rng.random(n) < 0.15) * rng.lognormal(np.log(6 * 3600), 1.0, n).astype(np.int64)
    reopens = rng.choice(3, n, p=[0.97, 0.027, 0.003])
    rework = (reopens * rng.lognormal(np.log(DAY_S), 0.5, n)).astype(np.int64)
    resolved = np.maximum(opened + work.astype(np.int64), ack + 300) + hold + rework
    closed = resolved + 3 * DAY_S + rng.integers(0, 3600, n)  # auto-close after three days
    acked, done, shut = ack <= as_of, resolved <= as_of, closed <= as_of
    chance = rng.random(n)
    problem_id = np.full(n, "", dtype=object)
    for back in range(_PROBLEM_LOOKBACK_DAYS, 0, -1):  # loops over problems, not rows
        known = _problems(params, day - dt.timedelta(days=back))
        for number, p_ci, p_opened, p_resolved in zip(
                known["number"], known["_ci"], known["_opened"], known["_resolved"], strict=True):
            problem_id[(ci == p_ci) & (opened > p_opened) & (opened < p_resolved) & ~event
                       & (chance < 0.25)] = str(number)
    caused_by = rows["caused_by"]
    suspect = changes["_failed"] & ~changes["_event"]
    for number, c_ci, c_end in zip(changes["number"][suspect], changes["_ci"][suspect],
                                   changes["_end"][suspect], strict=True):
        caused_by[(ci == c_ci) & (opened > c_end) & (opened < c_end + 6 * 3600) & ~event
                  & (chance > 0.5)] = str(number)
    shown_hold = np.where(done, hold, np.clip(as_of - ack, 0, hold))
    hold_text = _DIGITS[np.zeros(n, dtype=np.int64)]
    hold_text[shown_hold > 0] = shown_hold[shown_hold > 0].astype(str)
    symptom = rng.integers(0, len(_SYMPTOMS), n)
    # Drawn in the order the export columns always drew them, so the rows stay the same.
    group = _pick(rng, svc, _GROUP_OFF, _GROUP_N)
    caller = _CALLERS[rng.integers(0, len(_CALLERS), n)]
    assignee = np.where(acked, _AGENTS[rng.integers(0, len(_AGENTS), n)], "")
    contact = _CONTACT[rng.choice(4, n, p=[0.3, 0.3, 0.35, 0.05])]
    moves = rng.choice(6, n, p=[0.62, 0.22, 0.09, 0.04, 0.02, 0.01])
    return {
        "number": format_keys(f"INC{day:%Y%m%d}", n, 5), "opened_at": format_ts(opened),
        "sys_updated_on": format_ts(_latest([opened, ack, resolved, closed], as_of)),
        "acknowledged_at": format_ts(ack, acked), "resolved_at": format_ts(resolved, done),
        "closed_at": format_ts(closed, shut), "priority": _PRIORITY[prio],
        "state": _INCIDENT_STATES[np.select([shut, done, acked & (hold > 0), acked],
                                            [0, 1, 2, 3], 4)],
        "business_service": _NAMES[svc], "cmdb_ci": _CI[ci],
        "assignment_group": _GROUP[group], "category": _CATEGORY[rows["category"]],
        "short_description": _INCIDENT_TEXT[rows["category"], symptom, ci],
        "caller_id": caller, "assigned_to": assignee, "contact_type": contact,
        "reassignment_count": _DIGITS[moves],
        "reopen_count": _DIGITS[reopens], "hold_duration": hold_text,
        "problem_id": problem_id, "caused_by": caused_by, "_resolved": resolved, "_event": event,
        # The lifecycle behind the row, for the audit log and the durations (no draws here).
        "_svc": svc, "_prio": prio, "_group": group, "_moves": moves, "_opened": opened,
        "_ack": ack, "_hold": hold, "_rework": rework, "_closed": closed, "_reopens": reopens,
    }


def _slowdown(scen: Scenario, svc: np.ndarray, opened: np.ndarray) -> np.ndarray | float:
    """Resolution-time factor of the degradation event: a linear ramp, then a plateau."""
    event = scen.get("resolution_degradation")
    if event is None:
        return 1.0
    ramp = np.clip((opened - to_seconds(event.start)) / DEGRADATION_RAMP.total_seconds(), 0, 1)
    return np.where(svc == _SERVICE_INDEX[event.service], 1 + (event.magnitude - 1) * ramp, 1.0)


def _paced(params: SyntheticParams, svc: np.ndarray, opened: np.ndarray, work: np.ndarray
           ) -> np.ndarray:
    """Clock seconds the work takes when resolution_changes alter its pace on the way."""
    if not params.resolution_changes:
        return work
    clock, left = opened.astype(float), work.astype(float)
    pace, paced = np.ones(len(work)), np.zeros(len(work), dtype=bool)
    for service, first_day, factor in sorted(params.resolution_changes, key=lambda c: c[1]):
        if service not in _SERVICE_INDEX:
            raise ValueError(f"resolution_changes names unknown service {service!r}; "
                             f"known: {', '.join(SERVICES)}")
        at = float(to_seconds(first_day))
        mine = svc == _SERVICE_INDEX[service]
        before = mine & (opened < at)  # still being worked at the change: remaining work slows
        reach = before & (clock + left * pace > at)
        left[reach] -= (at - clock[reach]) / pace[reach]
        clock[reach] = at
        later = reach | (mine & (opened >= at))
        pace[later] *= factor
        paced |= later
    return np.where(paced, clock + left * pace - opened, work)  # untouched rows stay exact


def _outages(params: SyntheticParams, day: dt.date, event: ScenarioEvent | None
             ) -> dict[str, np.ndarray]:
    """Unplanned outages (a few per month per service, 5-120 min) and planned night windows
    (30-240 min, mostly weekends), a quarter of them overlapped by a second window."""
    rng = _rng(params, day, _OUTAGES)
    as_of, start = to_seconds(params.as_of), to_seconds(day)
    unplanned = rng.poisson(0.1 * len(_NAMES))
    n = unplanned + rng.poisson(0.6 if day.weekday() >= 5 else 0.15)
    planned = (np.arange(n) >= unplanned).astype(np.int64)
    night = rng.choice([0, 1, 2, 3, 21, 22, 23], n) * 3600 + rng.integers(0, 4, n) * 900
    begin = start + np.where(planned, night, rng.integers(0, DAY_S, n))
    length = np.where(planned, rng.integers(2, 17, n) * 900,
                      np.clip(rng.lognormal(np.log(1800), 0.8, n), 300, 7200).astype(np.int64))
    twin = np.flatnonzero(planned & (rng.random(n) < 0.25))
    svc = rng.integers(0, len(_NAMES), n)
    svc, planned = np.r_[svc, svc[twin]], np.r_[planned, planned[twin]]
    overlap = rng.integers(900, np.minimum(length[twin], 3600))  # starts inside the first window
    begin = np.r_[begin, np.minimum(begin[twin] + overlap, start + DAY_S - 60)]
    length = np.r_[length, rng.integers(2, 9, len(twin)) * 900]
    ci = _pick(rng, svc, _CI_OFF, _CI_N)
    text = _OUTAGE_TEXT[planned, ci]
    if event is not None and event.start.date() == day:  # goes first: id 001
        svc, ci = np.r_[_SERVICE_INDEX[event.service], svc], np.r_[_CI_INDEX[event.cmdb_ci], ci]
        begin, planned = np.r_[to_seconds(event.start), begin], np.r_[0, planned]
        length = np.r_[to_seconds(event.end) - to_seconds(event.start), length]
        text = np.r_[_table([event.description]), text]
    end = begin + length
    cols = {
        "service": _NAMES[svc], "begin": format_ts(begin), "end": format_ts(end, end <= as_of),
        "type": _OUTAGE_TYPES[planned], "cmdb_ci": _CI[ci], "description": text,
        "sys_updated_on": format_ts(_latest([begin, end], as_of)),
    }
    keep = begin <= as_of
    return {"outage_id": format_keys(f"OUT{day:%Y%m%d}", int(keep.sum()), 3)} | _kept(cols, keep)


def _surveys(params: SyntheticParams, day: dt.date, incidents: dict[str, np.ndarray],
             dirty: np.ndarray) -> dict[str, np.ndarray]:
    """A survey for each clean incident resolved on this day, sent the same day."""
    rng = _rng(params, day, _SURVEYS)
    as_of, start = to_seconds(params.as_of), to_seconds(day)
    sent = incidents["_resolved"] + rng.integers(300, 3600, len(incidents["_resolved"]))
    chosen = (incidents["_resolved"] >= start) & (sent < start + DAY_S) & (sent <= as_of)
    chosen[dirty] = False
    sent, m = sent[chosen], int(chosen.sum())
    responded = sent + rng.lognormal(np.log(3 * 3600), 1.0, m).astype(np.int64)
    answered = (rng.random(m) < 0.25) & (responded <= as_of)
    score = rng.choice(5, m, p=_SCORE_P)
    comment = _COMMENTS[score, rng.integers(0, _COMMENTS.shape[1], m)]
    return {
        "response_id": format_keys(f"SRV{day:%Y%m%d}", m, 5),
        "incident": incidents["number"][chosen],
        "business_service": incidents["business_service"][chosen], "sent_at": format_ts(sent),
        "responded_at": format_ts(responded, answered),
        "score": np.where(answered, _DIGITS[score + 1], ""),
        "comment": np.where(answered & (rng.random(m) < 0.5), comment, ""),
    }


def _generate(params: SyntheticParams, day: dt.date, history: bool = False
              ) -> tuple[dict[str, pd.DataFrame], list[tuple[str, str, str]], list[str]]:
    """One day's frames (the audit log only when `history`), its (entity, key, defect) ground
    truth and the incidents whose business_duration was made to disagree."""
    wanted = ALL_ENTITIES if history else ENTITIES
    if day > params.as_of.date():
        return ({e: pd.DataFrame(columns=list(COLUMNS[e]), dtype=object) for e in wanted},
                [], [])
    scen = scenario(params)
    changes = _changes(params, day, scen.get("failed_change_burst"))
    incidents = _incidents(params, day, scen, changes)
    as_of = to_seconds(params.as_of)
    # The audit log and durations see the incidents before defects change their columns.
    frames = {"problems": _frame("problems", _problems(params, day)),
              "outages": _frame("outages", _outages(params, day, scen.get("outage_burst")))}
    if history:  # about seven audit rows per incident: only made when asked for
        frames[HISTORY] = _frame(HISTORY, incident_history(
            _rng(params, day, _HISTORY), incidents, as_of, day))
    durations, wrong = source_durations(_rng(params, day, _DURATIONS), incidents, as_of,
                                        params.calendar or business_calendar(),
                                        params.duration_mismatch_share)
    incidents |= durations
    mismatches = [str(number) for number in incidents["number"][wrong]]
    rng = _rng(params, day, _DEFECTS)
    per_day = params.incidents_per_day * sum(_WEEKDAY) / len(_WEEKDAY)
    defects: list[tuple[str, str, str]] = []
    for entity, cols, spec, expected in (("incidents", incidents, INCIDENT_DEFECTS, per_day),
                                          ("changes", changes, CHANGE_DEFECTS, per_day / 8)):
        rows, kinds = choose_defects(rng, np.flatnonzero(~cols["_event"]), spec,
                                     params.dirty_share, day.toordinal(), expected)
        if entity == "incidents":  # surveys only follow up clean incidents
            frames["surveys"] = _frame("surveys", _surveys(params, day, cols, rows))
        strings = {c: np.asarray(cols[c], dtype=object) for c in COLUMNS[entity]}
        strings, manifest = inject_defects(strings, rows, kinds, spec, rng, params.as_of, day)
        frames[entity] = _frame(entity, strings)
        defects += [(entity, key, kind) for key, kind in manifest]
    return {e: frames[e] for e in wanted}, defects, mismatches


def generate_day(params: SyntheticParams, day: dt.date, entities: Collection[str] = ENTITIES
                 ) -> dict[str, pd.DataFrame]:
    """All entities created on `day`, one string-only DataFrame per entity in ENTITIES, plus
    the audit log of the day's incidents (on their day, as their rows are) when `entities`
    names HISTORY."""
    return _generate(params, day, HISTORY in entities)[0]


def _days(start: dt.date, end_inclusive: dt.date) -> Iterator[dt.date]:
    for offset in range((end_inclusive - start).days + 1):
        yield start + dt.timedelta(days=offset)


def generate_range(params: SyntheticParams, start: dt.date, end_inclusive: dt.date,
                   entities: Collection[str] = ENTITIES
                   ) -> Iterator[tuple[dt.date, dict[str, pd.DataFrame]]]:
    """Days in order, lazily: each day is exactly what generate_day returns for it."""
    for day in _days(start, end_inclusive):
        yield day, generate_day(params, day, entities)


def dirty_rows(params: SyntheticParams, start: dt.date, end_inclusive: dt.date) -> pd.DataFrame:
    """Ground truth of the injected defects: entity, key (as emitted, may be ""), day, defect.

    Duplicates are listed once per extra copy, under the key they share with the original.
    """
    records = [(entity, key, day.isoformat(), defect) for day in _days(start, end_inclusive)
               for entity, key, defect in _generate(params, day)[1]]
    return pd.DataFrame(records, columns=["entity", "key", "day", "defect"], dtype=object)


def duration_mismatches(params: SyntheticParams, start: dt.date, end_inclusive: dt.date
                        ) -> pd.DataFrame:
    """Ground truth of the deliberate disagreements: incidents (key, day) whose emitted
    business_duration is off by whole hours from the calendar's working time."""
    records = [(key, day.isoformat()) for day in _days(start, end_inclusive)
               for key in _generate(params, day)[2]]
    return pd.DataFrame(records, columns=["key", "day"], dtype=object)
