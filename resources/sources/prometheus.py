"""Outage windows from the Prometheus HTTP API: `query_range` of a probe or `up` series.

A sample below `down_below` (default 1: probe_success or up equal to 0) is down; each maximal
run of down samples of one series is an outage from its first down sample to the first sample
that is up again (empty while it goes on). A run over days [start, end) queries from
`max_outage_hours` before `start` to as long after `end`, so an outage crossing midnight is one
outage, not two, and keeps only outages that begin inside the run's days: the day an outage
began is its partition. Long ranges are queried in pieces under Prometheus' 11,000-point limit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections import defaultdict
from collections.abc import Callable
from zoneinfo import ZoneInfo

import duckdb
import requests

from resources.config_models import SourceConfig
from resources.sources import http
from resources.sources.landing import SourceReadError, StageWriter

MAX_POINTS = 10_000


def _problem(body: object) -> str | None:
    if not isinstance(body, dict):
        return "not a JSON object"
    if body.get("status") == "error":
        return None  # reported below with Prometheus' own words
    data = body.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("result"), list):
        return "no data.result list"
    return None


def query_series(
    source: SourceConfig, first: dt.datetime, last: dt.datetime
) -> dict[str, tuple[dict[str, str], list[tuple[float, float]]]]:
    """Every series of the query over [first, last]: labels and (unix time, value) samples."""
    config = source.prometheus
    assert config is not None
    session = requests.Session()
    credentials = "no credentials"
    if config.token_env:
        token = os.environ.get(config.token_env)
        if not token:
            raise SourceReadError(f"source {source.name!r}: environment variable "
                                  f"{config.token_env} (prometheus.token_env) is not set")
        session.headers["Authorization"] = f"Bearer {token}"
        credentials = f"${config.token_env}"
    url = f"{config.url.rstrip('/')}/api/v1/query_range"
    series: dict[str, tuple[dict[str, str], list[tuple[float, float]]]] = {}
    piece = dt.timedelta(seconds=config.step_seconds * MAX_POINTS)
    begin = first
    with session:
        while begin <= last:
            stop = min(begin + piece, last)
            body, _ = http.get_json(
                session, url, {"query": config.query, "start": begin.timestamp(),
                               "end": stop.timestamp(), "step": config.step_seconds},
                what=f"Prometheus query_range (source {source.name!r}, {begin:%Y-%m-%d %H:%M}"
                f"..{stop:%Y-%m-%d %H:%M} UTC)", retries=3, timeout=config.timeout_seconds,
                credentials=credentials, valid=_problem)
            if body.get("status") == "error":
                raise SourceReadError(f"source {source.name!r}: Prometheus refused the query "
                                      f"{config.query!r}: {body.get('errorType')}: "
                                      f"{body.get('error')}")
            for item in body["data"]["result"]:
                labels = {str(k): str(v) for k, v in (item.get("metric") or {}).items()}
                key = json.dumps(labels, sort_keys=True)
                samples = series.setdefault(key, (labels, []))[1]
                try:
                    samples.extend((float(t), float(v)) for t, v in item.get("values") or [])
                except (TypeError, ValueError) as exc:
                    raise SourceReadError(f"source {source.name!r}: malformed sample in series "
                                          f"{key}: {exc}") from exc
            begin = stop + dt.timedelta(seconds=config.step_seconds)
    return series


def outage_windows(
    samples: list[tuple[float, float]], down_below: float
) -> list[tuple[float, float | None]]:
    """(start, end) of each run of down samples; end None when the series ends while down."""
    windows: list[tuple[float, float | None]] = []
    began: float | None = None
    for stamp, value in sorted(set(samples)):
        down = value < down_below
        if down and began is None:
            began = stamp
        elif not down and began is not None:
            windows.append((began, stamp))
            began = None
    if began is not None:
        windows.append((began, None))
    return windows


def stage_prometheus(
    con: duckdb.DuckDBPyConnection, source: SourceConfig, start: dt.date, end: dt.date,
    log: Callable[[str], None],
) -> tuple[str | None, str]:
    """Outages that began in [start, end) into `_stage_outages`; returns (stage, query text)."""
    config = source.prometheus
    assert config is not None
    margin = dt.timedelta(hours=config.max_outage_hours)
    lo = dt.datetime.combine(start, dt.time(), dt.UTC)
    hi = dt.datetime.combine(end, dt.time(), dt.UTC)
    series = query_series(source, lo - margin, hi + margin)
    tz = ZoneInfo(source.timezone)
    fmt = source.timestamp_format

    def text(stamp: float | None) -> str | None:
        if stamp is None:
            return None
        return dt.datetime.fromtimestamp(stamp, dt.UTC).astimezone(tz).strftime(fmt)

    column = {f: source.column("outages", f, d) for f, d in (
        ("outage_id", "outage_id"), ("service", "service"), ("ci", "cmdb_ci"),
        ("outage_type", "type"), ("start_at", "begin"), ("end_at", "end"),
        ("description", "description"))}
    records = []
    per_series: dict[str, int] = defaultdict(int)
    for key, (labels, samples) in sorted(series.items()):
        service_value = labels.get(config.service_label, "")
        service = config.services.get(service_value, service_value) or None
        ci = labels.get(config.ci_label) if config.ci_label else None
        digest = hashlib.sha1(key.encode()).hexdigest()[:10]
        for began, ended in outage_windows(samples, config.down_below):
            if not lo.timestamp() <= began < hi.timestamp():
                continue
            minutes = "ongoing" if ended is None else f"{(ended - began) / 60:g} min"
            records.append([
                f"prom-{digest}-{dt.datetime.fromtimestamp(began, dt.UTC):%Y%m%dT%H%M%S}",
                service, ci, "unplanned", text(began), text(ended),
                f"{config.query} below {config.down_below:g} ({minutes})",
                dt.datetime.fromtimestamp(began, dt.UTC).date()])
            per_series[service or key] += 1
    writer = StageWriter(con, "_stage_outages")
    names = [column[f] for f in ("outage_id", "service", "ci", "outage_type", "start_at",
                                 "end_at", "description")]
    writer.append([*names, "_partition"], records)
    con.execute("UPDATE _stage_outages SET _row = rowid + 1")
    log(f"{source.name}/outages: {len(records)} outage windows from {len(series)} series "
        f"({', '.join(f'{k}: {n}' for k, n in sorted(per_series.items())) or 'none'})")
    return writer.table, f"query_range {config.query} step {config.step_seconds}s"
