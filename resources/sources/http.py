"""JSON over HTTP with the retry rules every ITSM and monitoring API expects.

429 and 5xx answers, broken connections and malformed bodies are retried with exponential
backoff, waiting what the server's Retry-After asks when it says so; 401 and 403 stop at once
with a message naming the credentials' environment variables (never their values).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from resources.sources.landing import SourceReadError

MAX_WAIT_SECONDS = 300.0

sleep: Callable[[float], None] = time.sleep
"""How the client waits between attempts (tests replace it to record the waits)."""


class AccessDenied(SourceReadError):
    """The API refused the credentials (HTTP 401/403): retrying cannot help."""


def retry_after(response: requests.Response) -> float | None:
    """Seconds the server asks to wait: Retry-After as seconds or as an HTTP date."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return min(max(float(value), 0.0), MAX_WAIT_SECONDS)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return min(max((when - dt.datetime.now(dt.UTC)).total_seconds(), 0.0), MAX_WAIT_SECONDS)


def get_json(
    session: requests.Session, url: str, params: Mapping[str, Any], *, what: str,
    retries: int, timeout: float, credentials: str,
    valid: Callable[[Any], str | None] = lambda body: None,
) -> tuple[Any, requests.Response]:
    """GET `url` and decode its JSON body. `valid` returns why a decoded body is unusable (or
    None); such a body counts as a malformed page and is retried like a server error."""
    problem = ""
    for attempt in range(retries + 1):
        wait = min(2.0 ** attempt, 60.0)
        try:
            response = session.get(url, params=params, timeout=timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            problem = f"no answer ({type(exc).__name__}: {exc})"
        except requests.exceptions.ChunkedEncodingError as exc:  # body shorter than announced
            problem = f"truncated page ({exc})"
        else:
            if response.status_code in (401, 403):
                raise AccessDenied(
                    f"{what}: HTTP {response.status_code} {response.reason}: the server refused "
                    f"the credentials from {credentials}; check them and the account's roles")
            if response.status_code == 429 or response.status_code >= 500:
                problem = f"HTTP {response.status_code} {response.reason}"
                wait = retry_after(response) or wait
            elif response.status_code >= 400:
                raise SourceReadError(f"{what}: HTTP {response.status_code} {response.reason}: "
                                      f"{response.text[:300]}")
            else:
                try:
                    body = response.json()
                except (json.JSONDecodeError, requests.JSONDecodeError) as exc:
                    problem = f"malformed page (not JSON: {exc})"
                else:
                    problem = valid(body) or ""
                    if not problem:
                        return body, response
                    problem = f"malformed page ({problem})"
        if attempt < retries:
            sleep(wait)
    raise SourceReadError(f"{what}: gave up after {retries + 1} attempts; last: {problem}")
