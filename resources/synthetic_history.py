"""The synthetic source's audit log and resolution durations, derived from its incidents.

ServiceNow keeps every change of an audited field in `sys_audit` (documentkey, tablename,
fieldname, oldvalue, newvalue, sys_created_on, sys_created_by) and stamps a resolved incident
with `business_duration` and `calendar_duration` (opened to resolved, time on hold included).
Step 4 folds such logs into state/group intervals and compares the stamped durations with its
own; this module gives the synthetic source both, consistent with the incident rows it emits:

- every incident gets a creation entry per field (state New, its first group, its first
  priority), the move to In Progress when acknowledged, one on-hold spell whose length is the
  row's `hold_duration`, `reassignment_count` group changes (some back to a group the ticket
  had before: ping-pong), `reopen_count` reopens between its first and its final resolution
  (`resolved_at`) and the auto-close at `closed_at`;
- a ticket still open at `as_of` ends in the row's state, group and priority: its group and
  priority changes lie before `as_of`, its hold spell is still running when the row says On
  Hold, and its resolutions and reopens (still in the future) are not written;
- `business_duration` is the working time of config/calendar.yaml from opened to resolved (the
  same rule as step 4's SQL, in numpy), except for about 1% of the incidents (the parameter
  `duration_mismatch_share`), whose value is off by whole hours: the deliberate disagreements,
  listed by `duration_mismatches`.

Values are what sys_audit stores: internal state and priority codes ("2", not "In Progress").
Everything here draws from the callers' own random streams, never from the incident stream, so
the incident rows are the same with or without it. Vectorised over the day's incidents; the
loops run over a few fixed positions (group changes, reopens), never over rows.
"""

from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo

import numpy as np

from resources.business_calendar import BusinessCalendar
from resources.synthetic_events import DAY_S, EPOCH, SERVICES, format_keys, format_ts, to_seconds

HISTORY_COLUMNS: tuple[str, ...] = (
    "sys_id", "tablename", "documentkey", "fieldname", "oldvalue", "newvalue", "sys_created_on",
    "sys_created_by", "user")
STATE_CODES = np.array(["1", "2", "3", "6", "7"], dtype=object)
"""ServiceNow's internal incident states: New, In Progress, On Hold, Resolved, Closed."""
NEW, IN_PROGRESS, ON_HOLD, RESOLVED, CLOSED = range(5)
PRIORITY_CODES = np.array(["1", "2", "3", "4", "5"], dtype=object)
MAX_REASSIGNMENTS = 5  # the incident generator draws 0..5
PING_PONG_SHARE = 0.35  # chance that a move goes back to the group before the last one
OWN_GROUP_SHARE = 0.6  # chance that a move stays within the service's own groups
PRIORITY_CHANGE_SHARE = 0.06
MISMATCH_SHARE = 0.01
_FIELDS = np.array(["state", "assignment_group", "priority"], dtype=object)
_STATE, _GROUP, _PRIORITY = range(3)
_GROUPS = np.array(sorted({g for s in SERVICES.values() for g in s.groups}), dtype=object)
_GROUP_INDEX = {name: i for i, name in enumerate(_GROUPS)}
_SERVICE_GROUPS = np.array([[_GROUP_INDEX[g] for g in s.groups] for s in SERVICES.values()])
_FLAT_GROUPS = np.array([_GROUP_INDEX[g] for s in SERVICES.values() for g in s.groups])
"""The incident generator's flat group index (services' groups in catalogue order) -> ours."""
_AGENTS = np.array([f"agent.{i}" for i in range(1, 121)], dtype=object)
_SYSTEM = "system"


class _Events:
    """Audit entries collected block by block, then written out in time order."""

    def __init__(self) -> None:
        self.blocks: list[tuple[np.ndarray, ...]] = []

    def add(self, rows: np.ndarray, at: np.ndarray, field: int, old: np.ndarray,
            new: np.ndarray, by: np.ndarray, order: int) -> None:
        """Entries for incidents `rows` (indices) at `at`; `order` breaks ties in time."""
        m = len(rows)
        if m:
            self.blocks.append((rows, at, np.full(m, field), old, new, by, np.full(m, order)))

    def columns(self, numbers: np.ndarray, as_of: int, day: dt.date) -> dict[str, np.ndarray]:
        rows, at, field, old, new, by, order = (
            np.concatenate([b[i] for b in self.blocks]) if self.blocks
            else np.empty(0, dtype=object if i in (3, 4, 5) else np.int64)
            for i in range(7))
        keep = at <= as_of
        rows, at, field, old, new, by, order = (
            a[keep] for a in (rows, at, field, old, new, by, order))
        sort = np.lexsort((order, at, rows))
        rows, at, field, old, new, by = (a[sort] for a in (rows, at, field, old, new, by))
        return {
            "sys_id": format_keys(f"AUD{day:%Y%m%d}", len(rows), 6),
            "tablename": np.full(len(rows), "incident", dtype=object),
            "documentkey": numbers.astype(object)[rows], "fieldname": _FIELDS[field],
            "oldvalue": old.astype(object), "newvalue": new.astype(object),
            "sys_created_on": format_ts(at).astype(object), "sys_created_by": by, "user": by,
        }


def _uniform_times(rng: np.random.Generator, start: np.ndarray, end: np.ndarray,
                   count: int) -> np.ndarray:
    """`count` sorted whole-second moments per row in [start, end) (start when empty)."""
    span = np.maximum(end - start, 0)
    draws = np.sort(rng.random((len(start), count)), axis=1)
    return start[:, None] + (draws * span[:, None]).astype(np.int64)


def _groups(rng: np.random.Generator, svc: np.ndarray, final: np.ndarray, moves: np.ndarray
            ) -> np.ndarray:
    """Group index held after each move (column 0: the first group), built backwards from the
    row's final group so that neighbours differ; some moves return to an earlier group."""
    n = len(final)
    groups = np.zeros((n, MAX_REASSIGNMENTS + 1), dtype=np.int64)
    groups[np.arange(n), moves] = final
    own = _SERVICE_GROUPS[svc]
    for j in range(MAX_REASSIGNMENTS - 1, -1, -1):
        rows = np.flatnonzero(j < moves)
        nxt = groups[rows, j + 1]
        other_own = np.where(own[rows, 0] == nxt, own[rows, 1], own[rows, 0])
        anywhere = rng.integers(0, len(_GROUPS) - 1, len(rows))
        anywhere = anywhere + (anywhere >= nxt)  # any group but the next one
        pick = np.where(rng.random(len(rows)) < OWN_GROUP_SHARE, other_own, anywhere)
        back = (j + 2 <= moves[rows]) & (rng.random(len(rows)) < PING_PONG_SHARE)
        groups[rows, j] = np.where(back, groups[rows, np.minimum(j + 2, MAX_REASSIGNMENTS)],
                                   pick)
    return groups


def incident_history(rng: np.random.Generator, incidents: dict[str, np.ndarray], as_of: int,
                     day: dt.date) -> dict[str, np.ndarray]:
    """The sys_audit rows of the day's incidents up to `as_of`, one column per HISTORY_COLUMNS.

    `incidents` is the incident generator's output before defects are injected: its export
    columns plus the lifecycle (`_opened`, `_ack`, `_hold`, `_rework`, `_resolved`, ...)."""
    numbers = np.asarray(incidents["number"])
    n = len(numbers)
    opened, ack, hold = incidents["_opened"], incidents["_ack"], incidents["_hold"]
    resolved, closed = incidents["_resolved"], incidents["_closed"]
    rework, reopens, svc = incidents["_rework"], incidents["_reopens"], incidents["_svc"]
    prio = incidents["_prio"]
    moves, final_group = incidents["_moves"], _FLAT_GROUPS[incidents["_group"]]
    callers = np.asarray(incidents["caller_id"], dtype=object)
    agents = _AGENTS[rng.integers(0, len(_AGENTS), n)]
    done = resolved <= as_of
    first_resolved = resolved - rework
    work_end = first_resolved - hold  # the first resolution, hold spell excluded
    # Group and priority changes happen before the first resolution, and before as_of for a
    # ticket still open: its latest group and priority are then the row's.
    changes_end = np.where(done, first_resolved, np.minimum(first_resolved, as_of))
    ev = _Events()
    everyone = np.arange(n)
    groups = _groups(rng, svc, final_group, moves)
    first_prio = prio.copy()
    bumped = rng.random(n) < PRIORITY_CHANGE_SHARE
    first_prio[bumped] = np.where(prio[bumped] == 4, 3, prio[bumped] + 1)
    blank = np.full(n, "", dtype=object)
    ev.add(everyone, opened, _STATE, blank, np.full(n, STATE_CODES[NEW]), callers, 0)
    ev.add(everyone, opened, _GROUP, blank, _GROUPS[groups[:, 0]], callers, 1)
    ev.add(everyone, opened, _PRIORITY, blank, PRIORITY_CODES[first_prio], callers, 2)

    acked = np.flatnonzero(ack <= as_of)
    ev.add(acked, ack[acked], _STATE, np.full(len(acked), STATE_CODES[NEW]),
           np.full(len(acked), STATE_CODES[IN_PROGRESS]), agents[acked], 3)

    times = _uniform_times(rng, opened, changes_end, MAX_REASSIGNMENTS + 1)
    for j in range(1, MAX_REASSIGNMENTS + 1):
        rows = np.flatnonzero(moves >= j)
        ev.add(rows, times[rows, j - 1], _GROUP, _GROUPS[groups[rows, j - 1]],
               _GROUPS[groups[rows, j]], agents[rows], 4)
    rows = np.flatnonzero(bumped)
    ev.add(rows, times[rows, MAX_REASSIGNMENTS], _PRIORITY, PRIORITY_CODES[first_prio[rows]],
           PRIORITY_CODES[prio[rows]], agents[rows], 4)

    # One hold spell: inside the work of a resolved ticket; for a ticket the row shows On Hold
    # at as_of, running since the hold the row reports so far began.
    position = (rng.random(n) * np.maximum(work_end - ack, 0)).astype(np.int64)
    hold_start = np.where(done, ack + position, np.maximum(ack, as_of - hold))
    held = np.flatnonzero((hold > 0) & (ack <= as_of))
    ev.add(held, hold_start[held], _STATE, np.full(len(held), STATE_CODES[IN_PROGRESS]),
           np.full(len(held), STATE_CODES[ON_HOLD]), agents[held], 5)
    ended = held[done[held]]
    ev.add(ended, hold_start[ended] + hold[ended], _STATE,
           np.full(len(ended), STATE_CODES[ON_HOLD]),
           np.full(len(ended), STATE_CODES[IN_PROGRESS]), agents[ended], 6)

    # Resolutions of a resolved ticket: the first at first_resolved, then per reopen a spell
    # resolved and a spell of rework, the final one at resolved_at.
    finished = np.flatnonzero(done)
    cuts = _uniform_times(rng, first_resolved[finished], resolved[finished], 3)
    resolved_code = np.full(len(finished), STATE_CODES[RESOLVED])
    working_code = np.full(len(finished), STATE_CODES[IN_PROGRESS])
    k = reopens[finished]
    ev.add(finished, first_resolved[finished], _STATE, working_code, resolved_code,
           agents[finished], 7)
    for j in range(2):  # at most two reopens
        mine = k > j
        # k = 1: reopened at cut 1; k = 2: reopened at cuts 0 and 2, resolved again at cut 1.
        reopen_at = np.where(k == 1, cuts[:, 1], cuts[:, 2 * j])
        rows = finished[mine]
        ev.add(rows, reopen_at[mine], _STATE, resolved_code[mine], working_code[mine],
               callers[rows], 8)
        again = mine & (k > j + 1)
        ev.add(finished[again], cuts[again, 1], _STATE, working_code[again],
               resolved_code[again], agents[finished[again]], 9)
    reopened = finished[k > 0]
    ev.add(reopened, resolved[reopened], _STATE, np.full(len(reopened), STATE_CODES[IN_PROGRESS]),
           np.full(len(reopened), STATE_CODES[RESOLVED]), agents[reopened], 10)
    shut = np.flatnonzero(closed <= as_of)
    ev.add(shut, closed[shut], _STATE, np.full(len(shut), STATE_CODES[RESOLVED]),
           np.full(len(shut), STATE_CODES[CLOSED]), np.full(len(shut), _SYSTEM, dtype=object), 11)
    return ev.columns(numbers, as_of, day)


# ------------------------------------------------------------------ durations


@functools.lru_cache(maxsize=64)
def _year_windows(calendar: BusinessCalendar, year: int) -> tuple[np.ndarray, np.ndarray]:
    """Working windows (UTC epoch seconds) of every local day of `year`: opening, closing."""
    zone = ZoneInfo(calendar.timezone)
    holidays = set(calendar.holidays)
    opens, closes = [], []
    day = dt.date(year, 1, 1)
    while day.year == year:
        hours = calendar.hours[day.weekday()]
        if hours is not None and day not in holidays:
            for minutes, out in ((hours[0], opens), (hours[1], closes)):
                local = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=minutes)
                offset = local.replace(tzinfo=zone).utcoffset() or dt.timedelta()
                out.append(to_seconds(local - offset))
        day += dt.timedelta(days=1)
    return np.array(opens, dtype=np.int64), np.array(closes, dtype=np.int64)


def _worked(opens: np.ndarray, closes: np.ndarray, moment: np.ndarray) -> np.ndarray:
    """Working seconds from the first window up to each moment (a cumulative clock)."""
    before = np.concatenate([[0], np.cumsum(closes - opens)])
    at = np.searchsorted(opens, moment, side="right") - 1
    inside = np.clip(moment - opens[np.maximum(at, 0)], 0,
                     (closes - opens)[np.maximum(at, 0)])
    return np.where(at < 0, 0, before[np.maximum(at, 0)] + inside)


def business_seconds(calendar: BusinessCalendar, start: np.ndarray, end: np.ndarray,
                     always_on: np.ndarray) -> np.ndarray:
    """Working seconds in [start, end) by the calendar: what step 4's SQL computes
    (resources/business_calendar.py), every second for always-on services, 0 if end <= start."""
    if len(start) == 0:
        return np.zeros(0, dtype=np.int64)
    first = (EPOCH + dt.timedelta(seconds=int(start.min()) - DAY_S)).year
    last = (EPOCH + dt.timedelta(seconds=int(end.max()) + DAY_S)).year
    windows = [_year_windows(calendar, year) for year in range(first, last + 1)]
    opens = np.concatenate([w[0] for w in windows])
    closes = np.concatenate([w[1] for w in windows])
    if len(opens) == 0:
        working = np.zeros(len(start), dtype=np.int64)
    else:
        working = _worked(opens, closes, end) - _worked(opens, closes, start)
    return np.where(end <= start, 0, np.where(always_on, end - start, working))


def source_durations(rng: np.random.Generator, incidents: dict[str, np.ndarray], as_of: int,
                     calendar: BusinessCalendar, mismatch_share: float = MISMATCH_SHARE
                     ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """`business_duration` and `calendar_duration` of resolved incidents as ServiceNow's API
    returns glide durations ("1970-01-03 04:05:06" is 2 days 4:05:06), "" while open; and the
    mask of rows whose business_duration was made to disagree (`mismatch_share` of them)."""
    opened, resolved = incidents["_opened"], incidents["_resolved"]
    names = np.asarray(incidents["business_service"], dtype=object)
    always_on = np.isin(names, np.array(calendar.always_on, dtype=object))
    done = resolved <= as_of
    business = np.zeros(len(opened), dtype=np.int64)
    business[done] = business_seconds(calendar, opened[done], resolved[done], always_on[done])
    wrong = done & (rng.random(len(opened)) < mismatch_share)
    business = business + wrong * rng.integers(1, 9, len(opened)) * 3600
    return {"business_duration": format_ts(business, done).astype(object),
            "calendar_duration": format_ts(resolved - opened, done).astype(object)}, wrong
