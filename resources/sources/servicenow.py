"""The ServiceNow Table API (GET /api/now/table/<table>): windows on sys_updated_on, paging by
sysparm_offset/sysparm_limit, display values, basic or OAuth bearer auth from the environment.

A run over days [start, end) asks for `sys_updated_on` in that window, with the bounds written
in the source's timezone (set it to the integration user's timezone: ServiceNow reads query
dates in it), ordered by sys_updated_on and sys_id so pages do not overlap. Each page is
appended to the staging table as it arrives. With `display_value: all` every field lands twice:
`<field>` holds the display value and `<field>__value` the internal value (sys_id, code, UTC).
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import requests

from resources.config_models import ServiceNowConfig, SourceConfig
from resources.sources import http
from resources.sources.landing import SourceReadError, StageWriter

UPDATED = "sys_updated_on"


def session_for(source: SourceConfig) -> tuple[requests.Session, str]:
    """A session with the source's credentials, and which variables they came from."""
    config = source.servicenow
    assert config is not None
    session = requests.Session()
    session.headers["Accept"] = "application/json"
    if config.token_env:
        token = os.environ.get(config.token_env)
        if not token:
            raise SourceReadError(f"source {source.name!r}: environment variable "
                                  f"{config.token_env} (servicenow.token_env) is not set")
        session.headers["Authorization"] = f"Bearer {token}"
        return session, f"${config.token_env}"
    assert config.user_env and config.password_env
    user, password = os.environ.get(config.user_env), os.environ.get(config.password_env)
    if not user or not password:
        raise SourceReadError(f"source {source.name!r}: environment variables "
                              f"{config.user_env} and {config.password_env} (servicenow."
                              "user_env, password_env) must both be set")
    session.auth = (user, password)
    return session, f"${config.user_env}/${config.password_env}"


def window_query(config: ServiceNowConfig, entity: str, start: dt.date, end: dt.date,
                 timezone: str) -> str:
    """The encoded query of one window, e.g. sys_updated_on>=javascript:gs.dateGenerate(...)."""
    tz = ZoneInfo(timezone)

    def bound(day: dt.date) -> str:
        local = dt.datetime.combine(day, dt.time(), dt.UTC).astimezone(tz)
        return f"javascript:gs.dateGenerate('{local:%Y-%m-%d}','{local:%H:%M:%S}')"

    parts = [f"{UPDATED}>={bound(start)}", f"{UPDATED}<{bound(end)}"]
    extra = config.query.get(entity)  # type: ignore[call-overload]
    if extra:
        parts.append(extra)
    return "^".join(parts + [f"ORDERBY{UPDATED}", "ORDERBYsys_id"])


def _page_problem(body: Any) -> str | None:
    if not isinstance(body, dict) or not isinstance(body.get("result"), list):
        return "no 'result' list"
    return None


def _flatten(record: dict[str, Any], display: str) -> dict[str, object]:
    row: dict[str, object] = {}
    for name, value in record.items():
        if isinstance(value, dict) and ("display_value" in value or "value" in value):
            row[name] = _text(value.get("display_value"))
            if display == "all":
                row[f"{name}__value"] = _text(value.get("value"))
        else:
            row[name] = _text(value)
    return row


def _text(value: object) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def stage_servicenow(
    con: duckdb.DuckDBPyConnection, source: SourceConfig, entity: str, start: dt.date,
    end: dt.date, log: Callable[[str], None],
) -> tuple[str | None, str]:
    """Page through the window into `_stage_<entity>`; returns (stage, the request as text)."""
    config = source.servicenow
    assert config is not None
    table = config.tables[entity]  # type: ignore[index]
    url = f"{config.instance_url.rstrip('/')}/api/now/table/{table}"
    query = window_query(config, entity, start, end, source.timezone)
    described = f"GET /api/now/table/{table}?sysparm_query={query}"
    session, credentials = session_for(source)
    writer = StageWriter(con, f"_stage_{entity}")
    offset, began = 0, time.monotonic()
    with session:
        while True:
            params = {"sysparm_query": query, "sysparm_limit": config.page_size,
                      "sysparm_offset": offset, "sysparm_display_value": config.display_value,
                      "sysparm_exclude_reference_link": "true"}
            body, response = http.get_json(
                session, url, params, what=f"ServiceNow {table} (source {source.name!r}, "
                f"offset {offset})", retries=config.max_retries,
                timeout=config.timeout_seconds, credentials=credentials, valid=_page_problem)
            page = body["result"]
            rows, errors = [], []
            for i, record in enumerate(page):
                number = offset + i + 1
                if isinstance(record, dict):
                    rows.append((_flatten(record, config.display_value), number))
                else:
                    errors.append((number, f"record is not a JSON object: {str(record)[:500]}"))
            columns = sorted({c for row, _ in rows for c in row})
            writer.append([*columns, "_row"],
                          [[row.get(c) for c in columns] + [n] for row, n in rows])
            if errors:
                writer.append(["_row", "_error"], errors)
            offset += len(page)
            rate = writer.rows / max(time.monotonic() - began, 1e-9)
            log(f"{source.name}/{entity}: {writer.rows:,} rows from {table} ({rate:,.0f} rows/s)")
            # A short page is the end only once the announced total is reached: ACLs and
            # size limits make ServiceNow return short pages in the middle of a window.
            total = response.headers.get("X-Total-Count", "")
            if not page or (len(page) < config.page_size
                            and (not total.isdigit() or offset >= int(total))):
                break
    return writer.table, described
