"""The fixed world of the synthetic source and the ground truth injected into it.

Kept apart from the day generators (`resources.synthetic_data`) because these are the answers
the pipeline's detectors are tested against: the service catalogue, the scenario events (a volume
spike, a slow resolution drift, a failed change with its incident burst, a recurring cluster
nobody raised a problem for, an outage) and the defects the quarantine must catch, plus the
export formatting both modules share. Pure numpy/stdlib, no Dagster.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

EPOCH = dt.datetime(1970, 1, 1)
DAY_S = 86_400
CHANGE_LEAD = dt.timedelta(minutes=45)  # the failed emergency change is raised this long before
DEGRADATION_RAMP = dt.timedelta(weeks=6)  # resolution slows over this long, then stays slow
_SCENARIO_STREAM = 0  # seeds (seed, 0); day streams are (seed, ordinal >= 1, entity)


def to_seconds(moment: dt.datetime | dt.date) -> int:
    """Naive UTC datetime (or date, at midnight) as epoch seconds: the generator's time unit."""
    if not isinstance(moment, dt.datetime):
        moment = dt.datetime.combine(moment, dt.time())
    return (moment - EPOCH) // dt.timedelta(seconds=1)


# Timestamps are assembled from two lookup tables of raw UCS-4 text, "YYYY-MM-DD " per distinct
# day and "HH:MM:SS" per second of the day: formatting is the hot path of generation and this
# is several times faster than numpy's own datetime formatting.
_STAMP = np.dtype([("date", "V44"), ("time", "V32")])
_CLOCK_FACES = np.ascontiguousarray(
    np.datetime_as_string(np.arange(DAY_S).astype("datetime64[s]"), unit="s").astype("U19")
    .view(np.uint32).reshape(-1, 19)[:, 11:]
).view("V32").reshape(-1)


def format_ts(seconds: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Epoch seconds as export strings "YYYY-MM-DD HH:MM:SS" ("" where not valid), vectorised."""
    days, second = np.divmod(seconds, DAY_S)
    unique, which = np.unique(days, return_inverse=True)
    dates = np.strings.add(np.datetime_as_string(unique.astype("datetime64[D]")), " ")
    stamps = np.empty(len(seconds), dtype=_STAMP)
    stamps["date"] = dates.astype("U11").view("V44")[which]
    stamps["time"] = _CLOCK_FACES[second]
    text = stamps.view("U19")
    return text if valid is None else np.where(valid, text, "")


def format_keys(prefix: str, count: int, width: int) -> np.ndarray:
    """prefix + zero-padded 1..count ("INC2026013100001"), from digit arithmetic, not str()."""
    width = max(width, len(str(count)))
    chars = np.empty((count, len(prefix) + width), dtype=np.uint32)
    chars[:, : len(prefix)] = np.frombuffer(prefix.encode("utf-32-le"), dtype=np.uint32)
    power = 10 ** np.arange(width - 1, -1, -1)
    chars[:, len(prefix) :] = np.arange(1, count + 1)[:, None] // power % 10 + ord("0")
    return chars.view(f"U{chars.shape[1]}").reshape(-1)


def _format_one(moment: dt.datetime) -> str:
    return moment.isoformat(sep=" ", timespec="seconds")


@dataclass(frozen=True)
class ServiceSpec:
    """One business service of the built-in catalogue the events are placed in."""

    criticality: str
    is_24x7: bool  # 24x7 services also break at night
    share: float  # share of incident volume
    cis: tuple[str, ...]
    groups: tuple[str, ...]
    categories: tuple[str, ...]


SERVICES: dict[str, ServiceSpec] = {
    "Email": ServiceSpec(
        "high", True, 0.18, ("email-mx-01", "email-mx-02", "email-exch-01", "email-spam-01"),
        ("Messaging Ops", "Service Desk L2"), ("Email delivery", "Mailbox", "Spam", "Access")),
    "ERP": ServiceSpec(
        "critical", False, 0.17, ("erp-app-01", "erp-app-02", "erp-db-01", "erp-batch-01"),
        ("ERP Support", "DBA Team"), ("Application error", "Performance", "Batch job", "Access")),
    "Network": ServiceSpec(
        "critical", True, 0.20, ("net-core-sw-01", "net-fw-01", "net-wifi-ctl-01", "net-vpn-01"),
        ("Network Ops", "Security Ops"), ("Connectivity", "VPN", "Wi-Fi", "Firewall")),
    "Service Desk Portal": ServiceSpec(
        "medium", False, 0.12, ("sdp-web-01", "sdp-web-02", "sdp-db-01"),
        ("Portal Team", "Service Desk L2"), ("Login", "Form error", "Performance", "Notification")),
    "HR Portal": ServiceSpec(
        "low", False, 0.13, ("hr-web-01", "hr-db-01", "hr-sso-01"),
        ("HR Apps", "Identity Team"), ("Login", "Payroll view", "Form error", "Access")),
    "Payments": ServiceSpec(
        "critical", True, 0.20, ("pay-api-01", "pay-api-02", "pay-db-01", "pay-gw-01"),
        ("Payments Ops", "DBA Team"), ("Transaction failure", "Performance", "Settlement", "API")),
}


@dataclass(frozen=True)
class ScenarioEvent:
    """One injected event: what happened, where, when and how strongly.

    `reference` is the record the event itself emits (the failed change's number, the outage id);
    `occurrences` are the opened_at moments of the incidents it injects, where it fixes them.
    """

    kind: str
    service: str
    cmdb_ci: str  # "" when the event is service-wide
    start: dt.datetime
    end: dt.datetime
    magnitude: float
    description: str
    category: str = ""
    reference: str = ""
    occurrences: tuple[dt.datetime, ...] = ()


@dataclass(frozen=True)
class Scenario:
    """The events injected into one parameter set (empty when events are switched off)."""

    events: tuple[ScenarioEvent, ...] = ()

    def get(self, kind: str) -> ScenarioEvent | None:
        """The event of this kind, or None when it is not injected."""
        return next((event for event in self.events if event.kind == kind), None)


def build_scenario(seed: int, as_of: dt.datetime, services: Mapping[str, ServiceSpec]
                   ) -> Scenario:
    """Place the five events relative to as_of, each on a different service.

    Derived from (seed, as_of) only, never from a requested range, so every day generator sees the
    same events whichever days are generated.
    """
    rng = np.random.default_rng((seed, _SCENARIO_STREAM))
    names = sorted(services)
    spiked, degraded, changed, clustered, down = (names[i] for i in rng.permutation(len(names))[:5])
    midnight = dt.datetime.combine(as_of.date(), dt.time())

    def day(days_back: int) -> dt.datetime:
        return midnight - dt.timedelta(days=days_back)

    def at(days_back: int, hour_from: int, hour_to: int) -> dt.datetime:
        return day(days_back) + dt.timedelta(seconds=int(rng.integers(hour_from, hour_to) * 3600))

    def pick(options: Sequence[str]) -> str:
        return str(options[rng.integers(len(options))])

    spike_ci = pick(services[spiked].cis)
    change_ci, change_start = pick(services[changed].cis), at(35, 8, 10)
    created = change_start - CHANGE_LEAD
    burst = sorted(
        change_start + dt.timedelta(seconds=int(s)) for s in rng.integers(600, 4 * 3600, 15)
    )
    cluster_ci = pick(services[clustered].cis)
    cluster_category = pick(services[clustered].categories)
    cluster, back = [], 50
    while back >= 10:  # one incident every 2-3 days
        cluster.append(at(back, 8, 18))
        back -= int(rng.integers(2, 4))
    outage_ci, outage_start = pick(services[down].cis), at(15, 9, 13)
    return Scenario((
        ScenarioEvent(
            "volume_spike", spiked, spike_ci, day(20), day(19), 3.0,
            f"{spiked} receives about 3x its usual weekday incident volume, mostly on {spike_ci}",
        ),
        ScenarioEvent(
            "resolution_degradation", degraded, "", day(60), as_of, 2.5,
            f"{degraded} time to resolve grows from x1 to x2.5 over 6 weeks, then stays there",
        ),
        ScenarioEvent(
            "failed_change_burst", changed, change_ci, change_start,
            change_start + dt.timedelta(hours=4), float(len(burst)),
            f"Unsuccessful emergency change on {change_ci} followed by {len(burst)} incidents",
            reference=f"CHG{created:%Y%m%d}0001", occurrences=tuple(burst),
        ),
        ScenarioEvent(
            "recurring_cluster", clustered, cluster_ci, day(50), day(9), float(len(cluster)),
            f"'{cluster_category}' incidents on {cluster_ci} every 2-3 days, no problem raised",
            category=cluster_category, occurrences=tuple(cluster),
        ),
        ScenarioEvent(
            "outage_burst", down, outage_ci, outage_start,
            outage_start + dt.timedelta(hours=3), 180.0,
            f"Unplanned 3-hour outage of {down} ({outage_ci})",
            reference=f"OUT{outage_start:%Y%m%d}001",
        ),
    ))


@dataclass(frozen=True)
class DefectSpec:
    """Where each defect kind lands in one entity's columns."""

    kinds: tuple[str, ...]
    key: str
    start: str  # the column a "resolved_before_opened" end is set before
    end: str
    code: str
    bad_codes: tuple[str, ...]


INCIDENT_DEFECTS = DefectSpec(
    ("missing_key", "resolved_before_opened", "unknown_code", "future_timestamp",
     "unparseable_timestamp", "exact_duplicate", "near_duplicate"),
    "number", "opened_at", "resolved_at", "priority", ("7 - Unknown", "P9"),
)
CHANGE_DEFECTS = DefectSpec(
    ("missing_key", "resolved_before_opened", "unknown_code", "exact_duplicate", "near_duplicate"),
    "number", "start_date", "end_date", "type", ("Urgent",),
)


def choose_defects(
    rng: np.random.Generator,
    candidates: np.ndarray,
    spec: DefectSpec,
    share: float,
    ordinal: int,
    expected_rows_per_day: float,
) -> tuple[np.ndarray, list[str]]:
    """Pick which rows of a day become dirty, and how.

    About `share` of the rows, but at least one row on every `period`-th day, its kind rotating, so
    each kind shows up about once per 200 rows even at test volumes, where 1% alone misses kinds.
    """
    if share <= 0 or len(candidates) == 0:
        return np.empty(0, dtype=np.int64), []
    kinds = [str(k) for k in rng.choice(spec.kinds, rng.binomial(len(candidates), share))]
    period = max(1, round(200 / len(spec.kinds) / max(expected_rows_per_day, 1e-9)))
    if ordinal % period == 0:  # a floor day: at least one row, of the kind whose turn it is
        kinds = [spec.kinds[ordinal // period % len(spec.kinds)], *kinds[1:]]
    kinds = kinds[: len(candidates)]
    return rng.choice(candidates, len(kinds), replace=False), kinds


def inject_defects(
    cols: dict[str, np.ndarray],
    rows: np.ndarray,
    kinds: list[str],
    spec: DefectSpec,
    rng: np.random.Generator,
    as_of: dt.datetime,
    day: dt.date,
) -> tuple[dict[str, np.ndarray], list[tuple[str, str]]]:
    """Apply the chosen defects to object-dtype columns; return them and (key, defect) pairs.

    Loops over the dirty rows only (about 1% of a day), so the baseline stays vectorised.
    Duplicates are appended at the end; the source row they copy stays as it was, except that a
    near duplicate's source becomes the stale version (an earlier sys_updated_on).
    """
    manifest: list[tuple[str, str]] = []
    appended: list[dict[str, str]] = []
    for row, kind in zip(rows, kinds, strict=True):
        key = str(cols[spec.key][row])
        if kind == "missing_key":
            cols[spec.key][row] = key = ""
        elif kind == "resolved_before_opened":
            start = dt.datetime.fromisoformat(cols[spec.start][row])
            early = start - dt.timedelta(seconds=int(rng.integers(3600, 2 * DAY_S)))
            cols[spec.end][row] = _format_one(early)
        elif kind == "unknown_code":
            cols[spec.code][row] = str(rng.choice(spec.bad_codes))
        elif kind == "future_timestamp":
            later = f"{as_of.year + 1}{cols[spec.start][row][4:]}"
            cols[spec.start][row] = later.replace("-02-29", "-02-28")
        elif kind == "unparseable_timestamp":
            d, h, m = rng.integers(30, 32), rng.integers(24, 30), rng.integers(60, 70)
            cols[spec.start][row] = f"{d}/02/{day.year} {h}:{m}"
        else:
            copy = {name: values[row] for name, values in cols.items()}
            if kind == "near_duplicate":
                updated = dt.datetime.fromisoformat(cols["sys_updated_on"][row])
                later = min(updated + dt.timedelta(seconds=int(rng.integers(60, 7200))), as_of)
                stale = min(updated, later - dt.timedelta(seconds=1))
                cols["sys_updated_on"][row] = _format_one(stale)
                copy["sys_updated_on"] = _format_one(later)
                copy["short_description"] += " (details updated)"
            appended.append(copy)
        manifest.append((key, kind))
    if appended:
        cols = {
            name: np.concatenate([values, np.array([r[name] for r in appended], dtype=object)])
            for name, values in cols.items()
        }
    return cols, manifest
