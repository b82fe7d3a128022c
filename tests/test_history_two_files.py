"""Two drop files delivered for one day number their lines alike: step 4 must still tell their
rows apart where it reads raw rows back (docs/data-model.md, raw-row identity).

- The `source_durations` check reads a clean incident's raw durations: of two files holding
  the ticket on the same line, the row read is the one kept, not its quarantined duplicate.
- The audit-log fold orders rows of one moment by day, source, file and line, so two history
  files whose lines collide fold the same way whatever order the raw table holds them in, and
  every raw row is counted once (used, ignored or quarantined).

Files go through the real file source (step 3) into a temporary warehouse, as in
tests/test_bad_input_files.py.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest

from assets.step4_process import incident_history as ih
from assets.step4_process.source_durations import check, compare
from resources.config_models import SourceConfig
from tests.sources_support import gather
from tests.test_bad_input_files import DAY, file_source, land

END = DAY + dt.timedelta(days=1)
INCIDENT_HEADER = ("number,opened_at,resolved_at,sys_updated_on,priority,state,"
                   "business_service,short_description,business_duration,calendar_duration")
RIGHT, WRONG = "7200", "86400"
"""09:00 to 11:00 on Email, a 24x7 service (config/calendar.yaml): 120 business minutes."""


def incident_file(folder: Path, name: str, prefix: str, duration: str) -> None:
    """A small export: T-1 on line 2 (in every file), then a ticket of its own on line 3."""
    folder.mkdir(parents=True, exist_ok=True)
    base = ("2026-03-02 09:00:00,2026-03-02 11:00:00,2026-03-02 11:00:00,3 - Moderate,"
            "Resolved,Email")
    (folder / name).write_text("\n".join([
        INCIDENT_HEADER,
        f"T-1,{base},from {name},{duration},7200",
        f"{prefix}-2,{base},own ticket,7200,7200", ""]))


@pytest.mark.parametrize("wrong_in", ["a.csv", "b.csv"])
def test_source_durations_read_the_kept_row_not_its_duplicate_on_the_same_line(
        tmp_path: Path, wrong_in: str) -> None:
    """T-1 is on line 2 of both files with different business_duration values; one copy is
    kept, the other quarantined as a duplicate. The check compares the kept copy's value,
    whichever file holds the wrong one."""
    folder = tmp_path / "drop"
    for name, prefix in (("a.csv", "A"), ("b.csv", "B")):
        incident_file(folder, name, prefix, WRONG if name == wrong_in else RIGHT)
    landed = land(tmp_path, file_source(folder))
    assert landed.result.success
    assert sorted(landed.clean()) == ["A-2", "B-2", "T-1"]
    quarantined = landed.query("SELECT source_key, reason_code, _row, raw_row "
                               "FROM clean.incidents_quarantine")
    assert [(k, r, line) for k, r, line, _ in quarantined] == [
        ("T-1", "DUPLICATE_SUPERSEDED", 2)]
    dropped = json.loads(quarantined[0][3])
    kept_file = ({"a.csv", "b.csv"} - {dropped["_file"]}).pop()
    kept_value = WRONG if kept_file == wrong_in else RIGHT
    assert dropped["business_duration"] != kept_value  # the two copies do differ

    with duckdb.connect(str(landed.warehouse), read_only=True) as con:
        compared = compare(con, [file_source(folder)], DAY, END)
        passed, metadata = check(con, [file_source(folder)], DAY, END)
    business = compared[compared.field == "business_duration"].set_index("incident_id")
    assert business.index.is_unique and sorted(business.index) == ["A-2", "B-2", "T-1"]
    assert business.loc["T-1", "source_text"] == kept_value
    assert business.loc["T-1", "computed_minutes"] == pytest.approx(120.0)
    wrong_kept = kept_value == WRONG
    assert bool(business.loc["T-1", "disagrees"]) == wrong_kept
    assert passed == (not wrong_kept)
    assert metadata["business_duration_disagreeing"] == int(wrong_kept)
    assert metadata["calendar_duration_compared"] == 3
    assert metadata["calendar_duration_disagreeing"] == 0


# ------------------------------------------------------------------ audit logs in two files

HISTORY_HEADER = "documentkey,tablename,fieldname,oldvalue,newvalue,sys_created_on"
# Lines 2, 4 and 5 of the two files collide: the same ticket at the same moment on line 4,
# a rejected line 5 in one file and a used line 5 in the other.
FIRST = [
    "INC1,incident,state,,1,2026-03-02 08:00:00",             # 2
    "INC1,incident,assignment_group,,A,2026-03-02 08:00:00",  # 3
    "INC1,incident,state,1,2,2026-03-02 09:00:00",            # 4
    "INC1,incident,state,2,42,2026-03-02 10:00:00",           # 5 unknown code
    "INC1,incident,work_notes,,x,2026-03-02 10:30:00",        # 6 other field: ignored
]
SECOND = [
    "INC1,incident,priority,,3,2026-03-02 08:00:00",           # 2
    "INC2,incident,state,,1,2026-03-02 08:00:00",              # 3
    "INC1,incident,assignment_group,A,B,2026-03-02 09:00:00",  # 4
    "INC1,incident,state,2,6,2026-03-02 11:00:00",             # 5
]
EXPECTED = {
    "INC1": [("new", "A", 3, "2026-03-02 08:00", "2026-03-02 09:00"),
             ("in_progress", "B", 3, "2026-03-02 09:00", "2026-03-02 11:00"),
             ("resolved", "B", 3, "2026-03-02 11:00", None)],
    "INC2": [("new", None, None, "2026-03-02 08:00", None)],
}
# The same ticket, moment, field and line in both files with different values: the file read
# later (named last) applies last, as rows of one file apply in line order.
CLASH = {"one": ["INC9,incident,state,,1,2026-03-02 08:00:00",
                 "INC9,incident,assignment_group,,A,2026-03-02 08:00:00"],
         "two": ["INC9,incident,state,,2,2026-03-02 08:00:00",
                 "INC9,incident,assignment_group,,B,2026-03-02 08:00:00"]}


def history_source(folder: Path) -> SourceConfig:
    return file_source(folder, entity="history")


def fold_files(tmp_path: Path, files: dict[str, list[str]], reverse: bool = False
               ) -> duckdb.DuckDBPyConnection:
    """Drop `files` (name -> data lines), gather the day and fold it. With `reverse`, the raw
    table is first rewritten in the opposite physical order (see `reverse_raw`)."""
    folder = tmp_path / "drop"
    folder.mkdir(parents=True)
    for name, lines in files.items():
        (folder / name).write_text("\n".join([HISTORY_HEADER, *lines, ""]))
    warehouse = tmp_path / "warehouse.duckdb"
    source = history_source(folder)
    assert gather(source, warehouse, DAY, DAY).success
    con = duckdb.connect(str(warehouse))
    if reverse:
        reverse_raw(con)
    ih.ensure_tables(con)
    fold(con, source)
    return con


def reverse_raw(con: duckdb.DuckDBPyConnection) -> None:
    """Rewrite the raw table last file, last line first, as another load or a rewrite could
    leave it: the fold must not depend on the physical order."""
    con.execute("CREATE OR REPLACE TABLE raw.drop_history AS SELECT * FROM raw.drop_history "
                "ORDER BY _file DESC, _row DESC")


def fold(con: duckdb.DuckDBPyConnection, source: SourceConfig) -> None:
    con.begin()
    ih.fold_range(con, [source], DAY, END)
    con.commit()


def intervals(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {}
    for incident, state, group, priority, start, stop in con.execute(
            "SELECT incident_id, state, assignment_group, priority, valid_from, valid_to "
            "FROM clean.incident_history ORDER BY incident_id, valid_from").fetchall():
        out.setdefault(incident, []).append(
            (state, group, priority, f"{start:%Y-%m-%d %H:%M}",
             None if stop is None else f"{stop:%Y-%m-%d %H:%M}"))
    return out


def lineage(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute("SELECT incident_id, valid_from, _source, _partition, _row, _loaded_at "
                       "FROM clean.incident_history ORDER BY incident_id, valid_from"
                       ).fetchall()


def assert_reconciled(con: duckdb.DuckDBPyConnection, source: SourceConfig) -> None:
    assert ih.reconciliation(con, [source], DAY, END) == []
    assert ih.tickets_without_intervals(con) == []
    # Every raw row was judged exactly once, by its full identity.
    judged = con.execute("SELECT _source, _partition, _file, _row FROM _hist_day "
                         "ORDER BY ALL").fetchall()
    raw = con.execute("SELECT _source, _partition, _file, _row FROM raw.drop_history "
                      "ORDER BY ALL").fetchall()
    assert judged == raw and len(set(judged)) == len(judged)


@pytest.mark.parametrize(("names", "reverse"), [
    (("a.csv", "b.csv"), False), (("a.csv", "b.csv"), True),
    (("b.csv", "a.csv"), False), (("b.csv", "a.csv"), True)],
    ids=["first-named-first", "first-named-first-reversed", "first-named-last",
         "first-named-last-reversed"])
def test_two_audit_logs_of_one_day_with_colliding_lines_fold_alike(
        tmp_path: Path, names: tuple[str, str], reverse: bool) -> None:
    """Whichever file is named first and whatever order the raw table holds the rows in, the
    intervals are the same, each raw row is used, ignored or quarantined once, and the
    quarantined line 5 is the one of its own file."""
    first, second = names
    con = fold_files(tmp_path, {first: FIRST, second: SECOND}, reverse)
    with con:
        assert intervals(con) == EXPECTED
        assert_reconciled(con, history_source(tmp_path / "drop"))
        counts = dict(con.execute("SELECT status, count(*) FROM _hist_day GROUP BY 1"
                                  ).fetchall())
        assert counts == {"used": 7, "ignored": 1, "quarantined": 1}
        quarantined = con.execute("SELECT reason_code, _row, raw_row "
                                  "FROM clean.incident_history_quarantine").fetchall()
        assert [(r, line) for r, line, _ in quarantined] == [("UNKNOWN_CODE", 5)]
        raw_row = json.loads(quarantined[0][2])
        assert (raw_row["_file"], raw_row["newvalue"]) == (first, "42")


def test_the_lineage_of_colliding_lines_does_not_depend_on_the_physical_order(
        tmp_path: Path) -> None:
    """The row that opens an interval, and its lineage, come from one total order: folding
    the day again after the raw table was rewritten in reverse changes nothing."""
    con = fold_files(tmp_path, {"a.csv": FIRST, "b.csv": SECOND})
    with con:
        before = lineage(con)
        reverse_raw(con)
        fold(con, history_source(tmp_path / "drop"))
        assert lineage(con) == before
    # 08:00 of INC1: lines 2 and 3 of a.csv, line 2 of b.csv; the last in raw order is b's.
    opened = {(k, f"{at:%H:%M}"): row for k, at, _, _, row, _ in before}
    assert opened[("INC1", "08:00")] == 2
    assert opened[("INC1", "09:00")] == 4


@pytest.mark.parametrize("reverse", [False, True], ids=["as-loaded", "reversed"])
@pytest.mark.parametrize("last", ["one", "two"])
def test_clashing_changes_of_one_moment_apply_in_file_order(
        tmp_path: Path, last: str, reverse: bool) -> None:
    """Two files change the same field of one ticket at the same moment on the same line: the
    file named last applies last, however the raw table is ordered."""
    first = ({"one", "two"} - {last}).pop()
    con = fold_files(tmp_path, {"a.csv": CLASH[first], "b.csv": CLASH[last]}, reverse)
    with con:
        state = {"one": "new", "two": "in_progress"}[last]
        group = {"one": "A", "two": "B"}[last]
        assert intervals(con) == {"INC9": [(state, group, None, "2026-03-02 08:00", None)]}
        assert_reconciled(con, history_source(tmp_path / "drop"))
