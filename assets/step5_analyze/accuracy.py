"""Scoring analysis.findings against the synthetic source's injected ground truth.

Used by the ground-truth test and by benchmarks/analysis_accuracy.py, so both judge the same
way. An injected event is *found* when the finding kind meant to catch it names the right
service or CI on a day within the stated tolerance (:data:`TOLERANCE`). Precision counts the
alarms (:data:`assets.step5_analyze.unified.ALARM_KINDS` with polarity "worse"): an alarm is
*explained* when it sits on an event's service or CI (or on the total, the same day) within the
event's span plus its lag; every other alarm is a false alarm.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from assets.step5_analyze.unified import ALARM_KINDS
from resources.synthetic_events import DEGRADATION_RAMP, Scenario, ScenarioEvent

TOLERANCE: dict[str, tuple[int, int]] = {
    # event kind: (days before the event start, days after it) a finding may be dated
    "volume_spike": (0, 1),
    "failed_change_burst": (0, 0),
    "outage_burst": (0, 0),
    # resolution times are counted on the day of resolution, so a slowdown of incidents
    # opened from the start shows up over the 6-week ramp and up to 4 weeks after it
    "resolution_degradation": (7, DEGRADATION_RAMP.days + 28),
    # the cluster's busiest 30-day window must overlap the cluster
    "recurring_cluster": (0, 0),
}
DETECTORS: dict[str, tuple[str, ...]] = {
    "volume_spike": ("incident_burst", "signal"),
    "failed_change_burst": ("change_impact",),
    "outage_burst": ("major_outage",),
    "resolution_degradation": ("change_point",),
    "recurring_cluster": ("problem_candidate",),
}
LAG_DAYS = {"resolution_degradation": DEGRADATION_RAMP.days + 28}


@dataclass(frozen=True)
class Match:
    event: ScenarioEvent
    finding_id: str | None
    day: dt.date | None
    days_off: int | None


def _day(value: object) -> dt.date:
    return pd.Timestamp(value).date()


def _attributed(row: dict, event: ScenarioEvent) -> bool:
    if event.kind == "volume_spike" and row["kind"] == "signal":
        return row["kpi_id"] == "incident_volume" and row["service"] == event.service
    if event.kind == "resolution_degradation":
        return str(row["kpi_id"]).startswith("mttr") and row["service"] == event.service
    if event.kind == "recurring_cluster":
        return row["ci"] == event.cmdb_ci and f"category={event.category}" in row["scope"]
    if event.kind == "failed_change_burst":
        return row["ci"] == event.cmdb_ci and event.reference in row["title"]
    return row["ci"] == event.cmdb_ci


def _in_time(row: dict, event: ScenarioEvent) -> bool:
    if event.kind == "recurring_cluster":
        end = _day(row["day"])
        return end - dt.timedelta(days=29) <= event.end.date() and end >= event.start.date()
    before, after = TOLERANCE[event.kind]
    start = event.start.date()
    return start - dt.timedelta(days=before) <= _day(row["day"]) <= start + dt.timedelta(
        days=after)


def match_events(findings: pd.DataFrame, scenario: Scenario) -> list[Match]:
    """For each injected event the first finding that catches it (or none)."""
    out = []
    rows = findings.to_dict("records")
    for event in scenario.events:
        hits = [r for r in rows if r["kind"] in DETECTORS[event.kind]
                and _attributed(r, event) and _in_time(r, event)]
        hit = min(hits, key=lambda r: abs((_day(r["day"]) - event.start.date()).days),
                  default=None)
        out.append(Match(event, hit["finding_id"] if hit else None,
                         _day(hit["day"]) if hit else None,
                         (_day(hit["day"]) - event.start.date()).days if hit else None))
    return out


def alarms(findings: pd.DataFrame) -> pd.DataFrame:
    return findings[findings["kind"].isin(ALARM_KINDS) & (findings["polarity"] == "worse")]


def explained(row: dict, event: ScenarioEvent) -> bool:
    """Could this alarm be a consequence of the event (right place, right time)?"""
    day = _day(row["day"])
    start = event.start.date()
    if not start - dt.timedelta(days=1) <= day <= event.end.date() + dt.timedelta(
            days=LAG_DAYS.get(event.kind, 3)):
        return False
    if row["ci"] is not None and row["ci"] == event.cmdb_ci:
        return True
    if row["service"] is not None and row["service"] == event.service:
        return True
    return row["scope"] == "all" and abs((day - start).days) <= 1


def score(findings: pd.DataFrame, scenario: Scenario) -> dict[str, object]:
    """Recall (events found), precision (alarms explained) and the false alarms."""
    matches = match_events(findings, scenario)
    alarm_rows = alarms(findings).to_dict("records")
    false = [r for r in alarm_rows if not any(explained(r, e) for e in scenario.events)]
    found = sum(m.finding_id is not None for m in matches)
    return {
        "events": len(matches), "found": found,
        "recall": found / len(matches) if matches else float("nan"),
        "alarms": len(alarm_rows), "false_alarms": len(false),
        "precision": (len(alarm_rows) - len(false)) / len(alarm_rows) if alarm_rows
        else float("nan"),
        "matches": matches, "false": false,
    }
