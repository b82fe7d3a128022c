"""One table of findings, whatever analysis made them: analysis.findings.

Every analysis keeps its own detailed table; this module picks from each the rows that say
something a service manager should read, and words them the same way: what kind of finding,
which KPI, where (scope, service, CI), which day, a title, a sentence, and the evidence (the
source row as JSON). Ids are the source tables' stable ids, so the report and the improvement
register can point at a finding across runs.

``polarity`` is "worse", "better" or "neutral" from the KPI's direction; the alarm kinds
(:data:`ALARM_KINDS`) with polarity "worse" are what the accuracy tests count as alarms.
"""

from __future__ import annotations

import datetime as dt
import json
import math

import pandas as pd

from assets.step5_analyze.findings import KpiInfo, finding_id

FINDING_COLUMNS = ["finding_id", "kind", "kpi_id", "scope", "service", "ci", "day", "polarity",
                   "title", "detail", "evidence"]
ALARM_KINDS = ("signal", "change_point", "change_impact", "problem_candidate", "major_outage",
               "incident_burst")


def _evidence(row: dict) -> str:
    def plain(v: object) -> object:
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
            return None
        if isinstance(v, dt.date | pd.Timestamp):
            return str(v)[:19]
        if hasattr(v, "item"):
            return v.item()
        return v
    return json.dumps({k: plain(v) for k, v in row.items()}, sort_keys=True)


def _scope(breakdown: str, value: str) -> str:
    return "all" if breakdown == "all" else f"{breakdown}={value}"


def _service(breakdown: str, value: str) -> str | None:
    return value if breakdown == "service" else None


def _name(infos: dict[str, KpiInfo], kpi_id: str) -> str:
    return infos[kpi_id].name if kpi_id in infos else kpi_id


def _kpi_rows(signals: pd.DataFrame, change_points: pd.DataFrame, trends: pd.DataFrame,
              stability: pd.DataFrame, infos: dict[str, KpiInfo], recent_from: dt.date,
              min_sigmas: float) -> list[list]:
    rows = []
    for r in signals.to_dict("records"):
        day = pd.Timestamp(r["day"]).date()
        if (r["rule"] != "beyond_3_sigma" or day < recent_from or r["kpi_id"] not in infos
                or abs(r["sigmas"]) < min_sigmas):
            continue
        high = r["value"] > r["centre"]
        worse = high == (infos[r["kpi_id"]].direction == "lower_is_better")
        rows.append([r["finding_id"], "signal", r["kpi_id"],
                     _scope(r["breakdown"], r["breakdown_value"]),
                     _service(r["breakdown"], r["breakdown_value"]), None, day,
                     "worse" if worse else "better",
                     f"Unusual day for {_name(infos, r['kpi_id'])} "
                     f"({_scope(r['breakdown'], r['breakdown_value'])})",
                     r["description"], _evidence(r)])
    for r in change_points.to_dict("records"):
        rows.append([r["finding_id"], "change_point", r["kpi_id"],
                     _scope(r["breakdown"], r["breakdown_value"]),
                     _service(r["breakdown"], r["breakdown_value"]), None,
                     pd.Timestamp(r["day"]).date(), r["polarity"],
                     f"Level shift in {_name(infos, r['kpi_id'])} "
                     f"({_scope(r['breakdown'], r['breakdown_value'])})",
                     r["description"], _evidence(r)])
    for r in trends.to_dict("records"):
        if r["classification"] not in ("improving", "degrading"):
            continue
        rows.append([r["finding_id"], "trend", r["kpi_id"],
                     _scope(r["breakdown"], r["breakdown_value"]),
                     _service(r["breakdown"], r["breakdown_value"]), None,
                     pd.Timestamp(r["window_end"]).date(),
                     "worse" if r["classification"] == "degrading" else "better",
                     f"{_name(infos, r['kpi_id'])} {r['classification']} over "
                     f"{r['window_days'] // 7} weeks "
                     f"({_scope(r['breakdown'], r['breakdown_value'])})",
                     f"Theil-Sen change of {r['relative_change']:+.0%} over the window "
                     f"(Mann-Kendall p = {r['p_value']:.3g}).", _evidence(r)])
    for r in stability.to_dict("records"):
        if not r["stable"]:
            continue
        rows.append([r["finding_id"], "stability", r["kpi_id"],
                     _scope(r["breakdown"], r["breakdown_value"]),
                     _service(r["breakdown"], r["breakdown_value"]), None,
                     pd.Timestamp(r["last_day"]).date(), "neutral",
                     f"{_name(infos, r['kpi_id'])} in control for {r['in_control_days']} days "
                     f"({_scope(r['breakdown'], r['breakdown_value'])})",
                     f"No control-chart rule has fired since {r['since']}: the process is "
                     "stable, and a change can be judged against its limits.", _evidence(r)])
    return rows


def _driver_rows(drivers: pd.DataFrame, infos: dict[str, KpiInfo], min_relative_change: float
                 ) -> list[list]:
    rows = []
    for r in drivers[drivers["rank"] == 1].to_dict("records"):
        before, after = r["kpi_before"], r["kpi_after"]
        if before == 0 or abs(after - before) / abs(before) < min_relative_change:
            continue
        info = infos.get(r["kpi_id"])
        worse = info is not None and (after > before) == (info.direction == "lower_is_better")
        share = r["share_of_change"]
        how = "its own rate" if abs(r["rate_effect"]) >= abs(r["mix_effect"]) else "its share"
        rows.append([r["finding_id"], "driver", r["kpi_id"], _scope(r["breakdown"],
                     r["breakdown_value"]), _service(r["breakdown"], r["breakdown_value"]),
                     None, pd.Timestamp(r["after_end"]).date(), "worse" if worse else "better",
                     f"{r['breakdown_value']} explains most of the change in "
                     f"{_name(infos, r['kpi_id'])}",
                     f"{_name(infos, r['kpi_id'])} went from {before:.4g} to {after:.4g} "
                     f"({r['after_start']} to {r['after_end']} against the period before); "
                     f"{r['breakdown']} {r['breakdown_value']} accounts for {share:.0%} of the "
                     f"change, mostly through {how}.", _evidence(r)])
    return rows


def _ticket_rows(pareto: pd.DataFrame, changes: pd.DataFrame, problems: pd.DataFrame,
                 outages: pd.DataFrame, bursts: pd.DataFrame, last_day: dt.date) -> list[list]:
    rows = []
    for r in pareto[pareto["rank"] == 1].to_dict("records"):
        service = r["value"] if r["dimension"] == "service" else None
        ci = r["value"] if r["dimension"] == "ci" else None
        rows.append([finding_id("pareto", r["measure"], r["dimension"], r["value"], last_day),
                     "pareto", None, f"{r['dimension']}={r['value']}", service, ci, last_day,
                     "neutral", f"Largest share of {r['measure'].replace('_', ' ')} by "
                     f"{r['dimension'].replace('_', ' ')}: {r['value']}",
                     f"{r['value']} accounts for {r['share']:.0%} of "
                     f"{r['measure'].replace('_', ' ')} ({r['amount']:,.0f} of the period).",
                     _evidence(r)])
    for r in changes.to_dict("records"):
        rows.append([r["finding_id"], "change_impact", None, f"ci={r['ci']}", r["service"],
                     r["ci"], pd.Timestamp(r["change_day"]).date(), "worse",
                     f"{r['change_type'].capitalize()} change {r['change_id']} "
                     f"({r['outcome'] or 'open'}) followed by {r['incidents']} incidents",
                     f"{r['incidents']} incidents opened on {r['ci']} within the window after "
                     f"the change, where {r['expected']:.1f} were to be expected "
                     f"(Poisson p = {r['p_value']:.2g}); {r['recorded_causes']} record the "
                     "change as their cause.", _evidence(r)])
    for r in problems.to_dict("records"):
        rows.append([r["finding_id"], "problem_candidate", None,
                     f"ci={r['ci']} category={r['category']}", r["service"], r["ci"],
                     pd.Timestamp(r["window_end"]).date(), "worse",
                     f"Recurring '{r['category']}' incidents on {r['ci']}: problem candidate",
                     f"{r['incidents']} incidents in 30 days from {r['window_start']} with no "
                     f"problem record, {r['excess_ratio']:.1f} times as many as a typical "
                     f"CI/category of {r['service']} (Poisson p = {r['p_value']:.2g}).",
                     _evidence(r)])
    for r in outages.to_dict("records"):
        rows.append([r["finding_id"], "major_outage", None, f"ci={r['ci']}", r["service"],
                     r["ci"], pd.Timestamp(r["day"]).date(), "worse",
                     f"Major outage of {r['service']} ({r['ci']})",
                     f"Unplanned outage {r['outage_id']} took {r['minutes']:.0f} minutes where "
                     f"outages rarely exceed {r['usual_limit_minutes']:.0f}; that is "
                     f"{r['budget_share']:.0%} of the downtime the availability target allows "
                     f"in {r['budget_days']} days.", _evidence(r)])
    for r in bursts.to_dict("records"):
        rows.append([r["finding_id"], "incident_burst", None, f"ci={r['ci']}", r["service"],
                     r["ci"], pd.Timestamp(r["day"]).date(), "worse",
                     f"Burst of incidents on {r['ci']} ({r['service']})",
                     f"{r['incidents']} incidents opened on {r['ci']} on {r['day']}, where its "
                     f"usual share of that day's {r['day_total']} incidents is "
                     f"{r['expected']:.1f} (Poisson p = {r['p_value']:.2g}).", _evidence(r)])
    return rows


def _target_rows(attainment: pd.DataFrame) -> list[list]:
    rows = []
    for r in attainment.to_dict("records"):
        if r["status"] not in ("met_until", "reached_on", "not_reached"):
            continue
        polarity = "better" if r["status"] == "reached_on" else "worse"
        rows.append([r["finding_id"], "target", r["kpi_id"], _scope(r["breakdown"],
                     r["breakdown_value"]), _service(r["breakdown"], r["breakdown_value"]),
                     None, pd.Timestamp(r["last_day"]).date(), polarity,
                     f"Target outlook for {r['kpi_id']}: {r['status'].replace('_', ' ')}",
                     r["description"], _evidence(r)])
    return rows


def unified_findings(tables: dict[str, pd.DataFrame], infos: dict[str, KpiInfo], *,
                     last_day: dt.date, recent_days: int, min_sigmas: float,
                     min_relative_change: float) -> pd.DataFrame:
    """The findings table from the analysis tables (keys as in analysis.<name>)."""
    recent_from = last_day - dt.timedelta(days=recent_days - 1)
    rows = _kpi_rows(tables["kpi_signals"], tables["kpi_change_points"], tables["kpi_trends"],
                     tables["kpi_stability"], infos, recent_from, min_sigmas)
    rows += _driver_rows(tables["kpi_drivers"], infos, min_relative_change)
    rows += _ticket_rows(tables["pareto"], tables["change_impact_flagged"],
                         tables["problem_candidates_flagged"], tables["major_outages_flagged"],
                         tables["incident_bursts_flagged"], last_day)
    rows += _target_rows(tables["target_attainment"])
    frame = pd.DataFrame(rows, columns=FINDING_COLUMNS)
    return frame.drop_duplicates("finding_id").sort_values(
        ["day", "kind", "finding_id"], ascending=[False, True, True], ignore_index=True)
