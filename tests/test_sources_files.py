"""File drops through the real gather asset: messy exports, the incremental window, re-runs,
duplicates, malformed lines and unreadable files."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import duckdb
import pytest

from tests.sources_support import (
    check_passed,
    failure_message,
    gather,
    metadata,
    per_day,
    rows,
    source,
)

DATA = Path(__file__).parent / "data" / "sources"
D2, D3, D4 = dt.date(2026, 3, 2), dt.date(2026, 3, 3), dt.date(2026, 3, 4)


def _drop(folder: Path, name: str, target: str | None = None, day: dt.date = D3) -> Path:
    """Copy a fixture into the drop folder, dated `day` (the partition of rows without a date)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (target or name)
    shutil.copyfile(DATA / name, path)
    stamp = dt.datetime.combine(day, dt.time(12), dt.UTC).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def _servicenow(folder: Path, **read: object):
    return source(
        name="snow", kind="files", preset="servicenow", entities=["incidents"],
        timezone="Europe/Amsterdam", timestamp_format="%d/%m/%Y %H:%M",
        files={"folder": str(folder), "patterns": {"incidents": "incident*.csv"},
               "read": {"delimiter": ";", "encoding": "latin-1", "decimal_comma": True,
                        "null_values": ["", "?", "#N/B", "#MULTIVALUE"], **read}})


def test_messy_servicenow_export_lands_as_text_with_lines(tmp_path: Path) -> None:
    folder, warehouse = tmp_path / "drop", tmp_path / "w.duckdb"
    _drop(folder, "servicenow_incident_export.csv", "incident_2026-03.csv")
    result = gather(_servicenow(folder), warehouse, D2, D3, raise_on_error=False)
    got = rows(warehouse, "SELECT number, state, short_description, hold_duration, "
               "assignment_group, assignment_group_1, _row, _file, _partition, _error IS NULL "
               "FROM raw.snow_incidents ORDER BY _row")
    assert [r[0] for r in got] == ["INC0001", "INC0001", "INC0001", "INC0002", None]
    first = got[0]
    assert first[2] == "Mail down at café"  # Latin-1 decoded
    assert first[4:6] == ("Service Desk", None)  # repeated header kept; #MULTIVALUE is null
    assert [r[3] for r in got[:4]] == ["0", None, "1.5", None]  # decimal comma, ?, #N/B
    assert got[3][2] == "Printer\r\nbroken on floor 2"
    assert [r[6] for r in got] == [2, 3, 4, 5, 7]  # physical lines: INC0002 spans 5-6
    assert {r[7] for r in got} == {"incident_2026-03.csv"}
    # 00:30 in Amsterdam on 3 March is still 2 March in UTC: the event log's third update.
    assert [r[8] for r in got] == [D2, D2, D2, D3, D3]
    malformed = rows(warehouse, "SELECT _error FROM raw.snow_incidents WHERE _row = 7")[0][0]
    assert "INC0003;Closed" in malformed and "COLUMNS" in malformed
    columns = [r[0] for r in rows(warehouse, "DESCRIBE raw.snow_incidents")]
    assert not any(c.startswith("column") for c in columns)  # trailing empty columns dropped
    assert metadata(result, "snow_incidents")["rows_unparseable"] == 1
    # 1 of 5 rows unparseable: more than the contract's 10% of empty keys, so the blocking
    # check stops step 4 from reading the day.
    assert check_passed(result, "snow_incidents") is False


def test_incremental_window_and_rerun_replace_exactly_the_days(tmp_path: Path) -> None:
    folder, warehouse = tmp_path / "drop", tmp_path / "w.duckdb"
    _drop(folder, "servicenow_incident_export.csv", "incident_a.csv")
    config = _servicenow(folder)
    gather(config, warehouse, D2, D3, raise_on_error=False)
    before = per_day(warehouse, "snow_incidents")
    assert before == {D2: 3, D3: 2}  # D4's row waits for its own run
    gather(config, warehouse, D2, D3, raise_on_error=False)
    assert per_day(warehouse, "snow_incidents") == before  # re-run: same rows, no duplicates
    result = gather(config, warehouse, D4, D4)
    assert per_day(warehouse, "snow_incidents") == {**before, D4: 1}
    assert metadata(result, "snow_incidents")["rows_loaded"] == 1


def test_same_content_twice_is_loaded_once_and_unchanged_files_are_not_reopened(
        tmp_path: Path) -> None:
    folder, warehouse = tmp_path / "drop", tmp_path / "w.duckdb"
    _drop(folder, "servicenow_incident_export.csv", "incident_a.csv")
    _drop(folder, "servicenow_incident_export.csv", "incident_b.csv")
    config = _servicenow(folder)
    result = gather(config, warehouse, D2, D4, raise_on_error=False)
    assert metadata(result, "snow_incidents")["files_duplicate_content"] == 1
    assert sum(per_day(warehouse, "snow_incidents").values()) == 6
    log = rows(warehouse, "SELECT path, duplicate_of, rows, first_partition, last_partition "
               "FROM raw._files ORDER BY path")
    assert log == [("incident_a.csv", None, 6, D2, D4), ("incident_b.csv", "incident_a.csv",
                                                         0, None, None)]
    later = gather(config, warehouse, dt.date(2026, 4, 1), dt.date(2026, 4, 1))
    assert metadata(later, "snow_incidents")["files_read"] == 0
    assert metadata(later, "snow_incidents")["files_unchanged_outside_range"] == 1
    assert sum(per_day(warehouse, "snow_incidents").values()) == 6


def test_a_file_that_cannot_be_read_fails_naming_file_and_reason(tmp_path: Path) -> None:
    folder, warehouse = tmp_path / "drop", tmp_path / "w.duckdb"
    folder.mkdir()
    (folder / "incident_bad.csv").write_bytes(b"\x00\x01\x02 not,a\ncsv\x00,\x00\x00,x,y,z\n")
    config = _servicenow(folder)
    result = gather(config, warehouse, D2, D3, raise_on_error=False)
    assert not result.success
    message = failure_message(result)
    assert "incident_bad.csv" in message and "cannot read" in message


def test_jira_preset_month_names_repeated_headers_and_remaining_time(tmp_path: Path) -> None:
    folder, warehouse = tmp_path / "drop", tmp_path / "w.duckdb"
    _drop(folder, "jira_sm_export.csv")
    config = source(name="jira", kind="files", preset="jira_sm", entities=["incidents"],
                    files={"folder": str(folder), "patterns": {"incidents": "jira*.csv"}})
    assert config.timestamp_format == "%d/%b/%y %I:%M %p"
    result = gather(config, warehouse, dt.date(2026, 2, 25), dt.date(2026, 2, 26))
    assert result.success and check_passed(result, "jira_incidents")
    got = rows(warehouse, 'SELECT "Issue key", "Labels", "Labels_1", '
               '"Custom field (Time to resolution)", _partition FROM raw.jira_incidents '
               "ORDER BY _row")
    assert got == [("ITSM-1", "vpn", "remote", "-2h 15m", dt.date(2026, 2, 26)),
                   ("ITSM-2", None, None, "3h 0m", dt.date(2026, 2, 26))]


def test_survey_json_lines_keep_nested_values_and_flag_a_broken_line(tmp_path: Path) -> None:
    folder, warehouse = tmp_path / "drop", tmp_path / "w.duckdb"
    _drop(folder, "survey_responses.jsonl")
    config = source(name="survey", kind="files", entities=["surveys"],
                    files={"folder": str(folder), "patterns": {"surveys": "*.jsonl"}})
    gather(config, warehouse, D2, D4, raise_on_error=False)  # 1 of 4 keys empty: check fails
    got = rows(warehouse, "SELECT response_id, score, comment, extra, _row, _error IS NOT NULL "
               "FROM raw.survey_surveys ORDER BY _row")
    assert got == [
        ("S-1", "4", 'quick, "thanks"', None, 1, False),
        ("S-2", None, None, '{"channel":"mail"}', 3, False),
        (None, None, None, None, 4, True),
        ("S-4", "5", None, None, 5, False),
    ]
    assert per_day(warehouse, "survey_surveys") == {D2: 1, D3: 2, D4: 1}  # S-2: by sent_at


def test_parquet_and_excel_drops_format_typed_timestamps_like_text(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    folder, warehouse = tmp_path / "drop", tmp_path / "w.duckdb"
    folder.mkdir()
    duckdb.sql(f"""COPY (SELECT 'OUT-' || i AS outage_id, 'Email' AS service,
        'unplanned' AS type, TIMESTAMP '2026-03-02 08:00:00' + INTERVAL (i) DAY AS begin,
        NULL::TIMESTAMP AS "end" FROM range(3) t(i)) TO '{folder / "outages.parquet"}'""")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["outage_id", "service", "type", "begin", "end", None])
    sheet.append(["XL-1", "VPN", "planned", dt.datetime(2026, 3, 3, 22), None, None])
    sheet.append([None, None, None, None, None, None])
    sheet.append(["XL-2", "VPN", "unplanned", dt.datetime(2026, 3, 4, 1, 30),
                  dt.datetime(2026, 3, 4, 2), None])
    book.save(folder / "outages.xlsx")
    config = source(name="mon", kind="files", entities=["outages"],
                    files={"folder": str(folder), "patterns": {"outages": "outages.*"}})
    assert gather(config, warehouse, D2, D4).success
    got = rows(warehouse, 'SELECT outage_id, begin, "end", _file, _row FROM raw.mon_outages '
               "ORDER BY outage_id")
    assert got == [
        ("OUT-0", "2026-03-02 08:00:00", None, "outages.parquet", 1),
        ("OUT-1", "2026-03-03 08:00:00", None, "outages.parquet", 2),
        ("OUT-2", "2026-03-04 08:00:00", None, "outages.parquet", 3),
        ("XL-1", "2026-03-03 22:00:00", None, "outages.xlsx", 2),
        ("XL-2", "2026-03-04 01:30:00", "2026-03-04 02:00:00", "outages.xlsx", 4),
    ]


def test_monitoring_export_with_its_own_column_names(tmp_path: Path) -> None:
    folder, warehouse = tmp_path / "drop", tmp_path / "w.duckdb"
    _drop(folder, "monitoring_outages.csv")
    config = source(
        name="uptime", kind="files", entities=["outages"],
        columns={"outages": {"outage_id": "id", "ci": "host", "outage_type": "kind",
                             "start_at": "start", "end_at": "end"}},
        files={"folder": str(folder), "patterns": {"outages": "monitoring_*.csv"}})
    result = gather(config, warehouse, D2, D3)
    assert result.success and check_passed(result, "uptime_outages")
    assert per_day(warehouse, "uptime_outages") == {D2: 1, D3: 1}
