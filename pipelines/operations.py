"""The operations settings in config/operations.yaml, validated on load like every config file.

When the nightly run starts, how far back it looks for late updates, how big a backfill's runs
are and where failed runs are recorded are decisions of whoever operates sevenstep, so they live
in configuration rather than in code; a mistake stops the code location from loading and names
the file, line and field.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from resources.config_files import load_config
from resources.config_models import TimeZone
from resources.project import data_dir

FILE = "operations.yaml"
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class _Strict(BaseModel):
    """Unknown keys are refused: a misspelt field must not silently keep its default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NightlyConfig(_Strict):
    time: str = Field(default="02:00", description="HH:MM, 24-hour clock.")
    timezone: TimeZone = Field(default="UTC", description="IANA time zone of `time`.")
    lookback_days: int = Field(default=3, ge=0, le=60)
    enabled: bool = False

    @field_validator("time")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _CLOCK.match(value):
            raise ValueError(f"{value!r} is not a time of day as HH:MM (00:00 to 23:59)")
        return value

    @property
    def cron(self) -> str:
        """The cron expression of `time`: minute and hour, every day."""
        hour, minute = (int(part) for part in self.time.split(":"))
        return f"{minute} {hour} * * *"


class BackfillConfig(_Strict):
    chunk_days: int = Field(default=90, ge=1, le=3660)


class FailuresConfig(_Strict):
    log_file: str = Field(default="run_failures.jsonl", min_length=1)
    notify_timeout_seconds: float = Field(default=10.0, gt=0, le=300)

    def log_path(self) -> Path:
        """The failure log; a relative path lies under the data directory."""
        path = Path(self.log_file).expanduser()
        return path if path.is_absolute() else data_dir() / path


class DataDocsConfig(_Strict):
    """Great Expectations Data Docs of the source contracts (quality/contracts.py)."""

    enabled: bool = True
    keep_per_suite: int = Field(default=30, ge=1, le=1000)


class Operations(_Strict):
    nightly: NightlyConfig = NightlyConfig()
    backfill: BackfillConfig = BackfillConfig()
    failures: FailuresConfig = FailuresConfig()
    data_docs: DataDocsConfig = DataDocsConfig()


class OperationsFile(_Strict):
    operations: Operations


def operations() -> Operations:
    """The `operations:` section of config/operations.yaml (cached until the file changes)."""
    return load_config(FILE, OperationsFile).operations


def nightly_days(moment: dt.datetime, lookback_days: int,
                 history_start: dt.date) -> tuple[dt.date, dt.date]:
    """The days a nightly run started at `moment` covers: the last whole UTC day (partitions
    are UTC days) and `lookback_days` before it, never before the first partition."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment} has no time zone: a schedule time must be aware")
    last = moment.astimezone(dt.UTC).date() - dt.timedelta(days=1)
    first = max(last - dt.timedelta(days=lookback_days), history_start)
    return first, last

