"""The canonical clean tables: one pandera schema per table is the whole contract.

Each column carries its DuckDB type in `metadata`, so the same object creates the warehouse
table (`ddl`), validates every partition written to it (asset checks) and gives the Dagster UI
its column schema. Change a table here and all three follow.
"""

from __future__ import annotations

import pandera.pandas as pa

_PANDAS_DTYPE = {
    "VARCHAR": "str",
    "TIMESTAMP": "datetime64[ns]",
    "DATE": "datetime64[ns]",
    "DOUBLE": "float64",
    "BIGINT": "Int64",
    "INTEGER": "Int32",
    "SMALLINT": "Int16",
    "BOOLEAN": "boolean",
}


def col(
    sql_type: str,
    description: str,
    *,
    nullable: bool = True,
    checks: list[pa.Check] | None = None,
    unique: bool = False,
) -> pa.Column:
    return pa.Column(
        _PANDAS_DTYPE[sql_type],
        checks=checks,
        nullable=nullable,
        unique=unique,
        coerce=True,
        description=description,
        metadata={"sql_type": sql_type},
    )


LINEAGE = {
    "_source": col("VARCHAR", "Name of the configured source the row came from.", nullable=False),
    "_partition": col("DATE", "Day partition the row was gathered in: the day it was created "
                      "or last updated at the source.",
                      nullable=False),
    "_row": col("BIGINT", "Row number in the raw partition load: the way back to the raw row.",
                nullable=False),
    "_loaded_at": col("TIMESTAMP", "When step 3 loaded the raw row (UTC).", nullable=False),
}

NON_NEGATIVE = [pa.Check.ge(0)]
INCIDENT_STATES = ["new", "in_progress", "on_hold", "resolved", "closed"]


def _not_before(later: str, earlier: str) -> pa.Check:
    """A cross-field rule: `later` is null, `earlier` is null, or later >= earlier."""
    return pa.Check(
        lambda df: df[later].isna() | df[earlier].isna() | (df[later] >= df[earlier]),
        name=f"{later}_not_before_{earlier}",
        error=f"{later} must not be before {earlier}",
    )


INCIDENTS = pa.DataFrameSchema(
    {
        "incident_id": col("VARCHAR", "Ticket number at the source.", nullable=False,
                           unique=True),
        "service": col("VARCHAR", "Business service affected."),
        "ci": col("VARCHAR", "Configuration item affected."),
        "assignment_group": col("VARCHAR", "Group holding the ticket at its latest version."),
        "category": col("VARCHAR", "Incident category."),
        "priority": col("SMALLINT", "Canonical priority 1 (critical) to 5 (planning).",
                        nullable=False, checks=[pa.Check.isin([1, 2, 3, 4, 5])]),
        "state": col("VARCHAR", "Canonical state.", nullable=False, checks=[
            pa.Check.isin(INCIDENT_STATES)]),
        "contact_type": col("VARCHAR", "Channel the incident was reported through."),
        "opened_at": col("TIMESTAMP", "Opened (UTC).", nullable=False),
        "acknowledged_at": col("TIMESTAMP", "First acknowledged by support (UTC)."),
        "resolved_at": col("TIMESTAMP", "Final resolution (UTC); null while open."),
        "closed_at": col("TIMESTAMP", "Closed (UTC)."),
        "updated_at": col("TIMESTAMP", "Last update at the source (UTC)."),
        "on_hold_minutes": col("DOUBLE", "Minutes spent on hold (excluded from MTTR).",
                               nullable=False, checks=NON_NEGATIVE),
        "reassignment_count": col("INTEGER", "Times the ticket moved between groups.",
                                  nullable=False, checks=NON_NEGATIVE),
        "reopen_count": col("INTEGER", "Times the ticket was reopened after resolution.",
                            nullable=False, checks=NON_NEGATIVE),
        "problem_id": col("VARCHAR", "Linked problem record, if any."),
        "caused_by_change": col("VARCHAR", "Change recorded as the cause, if any."),
        "caller": col("VARCHAR", "Person who reported it."),
        "assignee": col("VARCHAR", "Person who resolved it."),
        "short_description": col("VARCHAR", "Free text from the ticket (untrusted)."),
        "minutes_to_acknowledge": col("DOUBLE", "acknowledged_at - opened_at in minutes.",
                                      checks=NON_NEGATIVE),
        "minutes_to_resolve": col("DOUBLE", "resolved_at - opened_at - on_hold, in minutes.",
                                  checks=NON_NEGATIVE),
        "first_resolved_at": col("TIMESTAMP", "First resolution (UTC): resolved_at of an "
                                 "incident never reopened; null while open or when reopened "
                                 "(the source does not report the earlier resolution)."),
        "minutes_to_acknowledge_business": col("DOUBLE", "Business minutes (config/calendar.yaml) "
                                               "from opened_at to acknowledged_at.",
                                               checks=NON_NEGATIVE),
        "minutes_to_resolve_business": col("DOUBLE", "Business minutes from opened_at to "
                                           "resolved_at, the on-hold share removed.",
                                           checks=NON_NEGATIVE),
        **LINEAGE,
    },
    checks=[_not_before("resolved_at", "opened_at"), _not_before("acknowledged_at", "opened_at"),
            _not_before("closed_at", "resolved_at")],
    name="clean.incidents",
    description="One row per incident, latest version.",
)

CHANGES = pa.DataFrameSchema(
    {
        "change_id": col("VARCHAR", "Change number at the source.", nullable=False, unique=True),
        "service": col("VARCHAR", "Business service changed."),
        "ci": col("VARCHAR", "Configuration item changed."),
        "assignment_group": col("VARCHAR", "Implementing group."),
        "change_type": col("VARCHAR", "normal, standard or emergency.", nullable=False,
                           checks=[pa.Check.isin(["normal", "standard", "emergency"])]),
        "state": col("VARCHAR", "Canonical change state.", nullable=False),
        "outcome": col("VARCHAR", "successful, successful_with_issues or failed; null if open.",
                       checks=[pa.Check.isin(["successful", "successful_with_issues", "failed"])]),
        "created_at": col("TIMESTAMP", "Created (UTC).", nullable=False),
        "start_at": col("TIMESTAMP", "Implementation start (UTC)."),
        "end_at": col("TIMESTAMP", "Implementation end (UTC)."),
        "updated_at": col("TIMESTAMP", "Last update at the source (UTC)."),
        "short_description": col("VARCHAR", "Free text from the ticket (untrusted)."),
        **LINEAGE,
    },
    checks=[_not_before("end_at", "start_at")],
    name="clean.changes",
    description="One row per change request, latest version.",
)

PROBLEMS = pa.DataFrameSchema(
    {
        "problem_id": col("VARCHAR", "Problem number.", nullable=False, unique=True),
        "service": col("VARCHAR", "Business service."),
        "ci": col("VARCHAR", "Configuration item."),
        "category": col("VARCHAR", "Category of the underlying incidents."),
        "state": col("VARCHAR", "Canonical problem state.", nullable=False),
        "opened_at": col("TIMESTAMP", "Opened (UTC).", nullable=False),
        "resolved_at": col("TIMESTAMP", "Resolved (UTC)."),
        "updated_at": col("TIMESTAMP", "Last update at the source (UTC)."),
        "short_description": col("VARCHAR", "Free text (untrusted)."),
        **LINEAGE,
    },
    checks=[_not_before("resolved_at", "opened_at")],
    name="clean.problems",
    description="One row per problem record, latest version.",
)

OUTAGES = pa.DataFrameSchema(
    {
        "outage_id": col("VARCHAR", "Outage record id.", nullable=False, unique=True),
        "service": col("VARCHAR", "Service that was down.", nullable=False),
        "ci": col("VARCHAR", "Configuration item that failed."),
        "planned": col("BOOLEAN", "Planned maintenance (true) or unplanned downtime.",
                       nullable=False),
        "start_at": col("TIMESTAMP", "Outage start (UTC).", nullable=False),
        "end_at": col("TIMESTAMP", "Outage end (UTC); null while the outage goes on."),
        "duration_minutes": col("DOUBLE", "end_at - start_at in minutes (before merging); "
                                "null while ongoing.", checks=NON_NEGATIVE),
        "description": col("VARCHAR", "Free text (untrusted)."),
        **LINEAGE,
    },
    checks=[_not_before("end_at", "start_at")],
    name="clean.outages",
    description="One row per outage window as recorded; overlaps are merged when measured.",
)

SURVEYS = pa.DataFrameSchema(
    {
        "response_id": col("VARCHAR", "Survey instance id.", nullable=False, unique=True),
        "incident_id": col("VARCHAR", "Incident the survey was about."),
        "service": col("VARCHAR", "Service of that incident."),
        "sent_at": col("TIMESTAMP", "Survey sent (UTC).", nullable=False),
        "responded_at": col("TIMESTAMP", "Answered (UTC); null when unanswered."),
        "score": col("SMALLINT", "Satisfaction 1 (very unhappy) to 5 (very happy).",
                     checks=[pa.Check.isin([1, 2, 3, 4, 5])]),
        "comment": col("VARCHAR", "Free text (untrusted)."),
        **LINEAGE,
    },
    checks=[_not_before("responded_at", "sent_at")],
    name="clean.surveys",
    description="One row per survey sent.",
)

SLA_RECORDS = pa.DataFrameSchema(
    {
        "incident_id": col("VARCHAR", "Incident the SLA applies to.", nullable=False),
        "sla_type": col("VARCHAR", "response or resolution.", nullable=False,
                        checks=[pa.Check.isin(["response", "resolution"])]),
        "service": col("VARCHAR", "Service of the incident."),
        "priority": col("SMALLINT", "Priority that selected the target.", nullable=False),
        "target_minutes": col("DOUBLE", "Agreed target.", nullable=False, checks=NON_NEGATIVE),
        "start_at": col("TIMESTAMP", "SLA clock start (UTC).", nullable=False),
        "stop_at": col("TIMESTAMP", "SLA clock stop (UTC); null while running."),
        "elapsed_minutes": col("DOUBLE", "Minutes counted so far (on hold excluded).",
                               checks=NON_NEGATIVE),
        "stage": col("VARCHAR", "completed or in_progress.", nullable=False,
                     checks=[pa.Check.isin(["completed", "in_progress"])]),
        "breached": col("BOOLEAN", "Elapsed beyond target (final state of the record).",
                        nullable=False),
        "_partition": col("DATE", "Partition of the incident the record belongs to.",
                          nullable=False),
    },
    unique=["incident_id", "sla_type"],
    name="clean.sla_records",
    description="One row per incident and SLA type, in its final state.",
)

KPI_DAILY = pa.DataFrameSchema(
    {
        "kpi_id": col("VARCHAR", "KPI id from the catalogue.", nullable=False),
        "day": col("DATE", "Day the values are attributed to (UTC).", nullable=False),
        "breakdown": col("VARCHAR", "'all' or the breakdown dimension.", nullable=False),
        "breakdown_value": col("VARCHAR", "Value of the dimension ('(all)' for the total).",
                               nullable=False),
        "numerator": col("DOUBLE", "Sum to divide (counts, minutes, scores).", nullable=False),
        "denominator": col("DOUBLE", "What it is divided by (1 per day for counts)."),
        "value": col("DOUBLE", "numerator / denominator; null when the denominator is 0."),
        "kpi_version": col("VARCHAR", "Content hash of the definition that computed it.",
                           nullable=False),
        "_partition": col("DATE", "The day the values belong to (equals day).", nullable=False),
    },
    unique=["kpi_id", "day", "breakdown", "breakdown_value"],
    name="clean.kpi_daily",
    description="Daily KPI facts: exact roll-ups are sum(numerator) / sum(denominator).",
)

INCIDENT_HISTORY = pa.DataFrameSchema(
    {
        "incident_id": col("VARCHAR", "Ticket number at the source.", nullable=False),
        "state": col("VARCHAR", "Canonical state during the interval; null when the log never "
                     "names the ticket's state.", checks=[pa.Check.isin(INCIDENT_STATES)]),
        "assignment_group": col("VARCHAR", "Group holding the ticket during the interval; null "
                                "while unassigned or unknown."),
        "priority": col("SMALLINT", "Canonical priority during the interval; null when the log "
                        "never names it.", checks=[pa.Check.isin([1, 2, 3, 4, 5])]),
        "valid_from": col("TIMESTAMP", "Start of the interval (UTC): the moment of the change "
                          "that opened it.", nullable=False),
        "valid_to": col("TIMESTAMP", "End of the interval (UTC), the next change; null for the "
                        "ticket's current interval."),
        **LINEAGE,
    },
    checks=[_not_before("valid_to", "valid_from")],
    unique=["incident_id", "valid_from"],
    name="clean.incident_history",
    description="One row per incident and interval in which its state, group and priority did "
    "not change, folded from the sources' audit logs (raw history).",
)

INCIDENT_LIFECYCLE = pa.DataFrameSchema(
    {
        "incident_id": col("VARCHAR", "Ticket number at the source.", nullable=False,
                           unique=True),
        "first_event_at": col("TIMESTAMP", "Earliest change in the log (UTC): the creation "
                              "when the log has it.", nullable=False),
        "current_state": col("VARCHAR", "State of the current interval."),
        "current_group": col("VARCHAR", "Group of the current interval."),
        "first_resolved_at": col("TIMESTAMP", "First move to resolved or closed (UTC); kept "
                                 "when the ticket is reopened later."),
        "final_resolved_at": col("TIMESTAMP", "Start of the resolution that still stands (UTC); "
                                 "null while the ticket is open."),
        "reopen_count": col("BIGINT", "Moves from resolved or closed back to an open state.",
                            nullable=False, checks=NON_NEGATIVE),
        "reassignment_count": col("BIGINT", "Moves from one group to another (the first "
                                  "assignment not counted).", nullable=False,
                                  checks=NON_NEGATIVE),
        "group_returns": col("BIGINT", "Moves to a group the ticket had held before.",
                             nullable=False, checks=NON_NEGATIVE),
        "ping_pong": col("BOOLEAN", "The ticket returned to a group it already had.",
                         nullable=False),
        "minutes_new": col("DOUBLE", "Minutes in state new (finished intervals).",
                           nullable=False, checks=NON_NEGATIVE),
        "minutes_in_progress": col("DOUBLE", "Minutes in state in_progress (finished "
                                   "intervals).", nullable=False, checks=NON_NEGATIVE),
        "minutes_on_hold": col("DOUBLE", "Minutes on hold (finished intervals).",
                               nullable=False, checks=NON_NEGATIVE),
        "minutes_resolved": col("DOUBLE", "Minutes resolved before a reopen or the close "
                                "(finished intervals).", nullable=False, checks=NON_NEGATIVE),
    },
    checks=[_not_before("final_resolved_at", "first_resolved_at")],
    name="clean.incident_lifecycle",
    description="A view: one row per incident of clean.incident_history with what its "
    "intervals say (resolutions, reopens, reassignments, ping-pong, time in each state).",
)

HISTORY_TABLES: dict[str, pa.DataFrameSchema] = {
    "incident_history": INCIDENT_HISTORY,
    "incident_lifecycle": INCIDENT_LIFECYCLE,
}
"""Tables folded from the audit logs (assets/step4_process/incident_history.py). They are not
in CLEAN_TABLES, so KPI expressions cannot read them yet: KPI coverage
(assets/kpi_coverage.py) traces every KPI table back to an entity spec, which they lack."""

QUARANTINE = pa.DataFrameSchema(
    {
        "entity": col("VARCHAR", "Raw entity the row came from.", nullable=False),
        "reason_code": col("VARCHAR", "Why the row was rejected (docs/data-model.md).",
                           nullable=False),
        "detail": col("VARCHAR", "What exactly is wrong, naming the field and value.",
                      nullable=False),
        "source_key": col("VARCHAR", "The row's key at the source, if it had one."),
        "raw_row": col("VARCHAR", "The raw row as JSON, unchanged.", nullable=False),
        **LINEAGE,
    },
    name="clean.quarantine",
    description="Rows rejected by step 4, with the reason; nothing is dropped silently.",
)

CLEAN_TABLES: dict[str, pa.DataFrameSchema] = {
    "incidents": INCIDENTS,
    "changes": CHANGES,
    "problems": PROBLEMS,
    "outages": OUTAGES,
    "surveys": SURVEYS,
    "sla_records": SLA_RECORDS,
    "kpi_daily": KPI_DAILY,
}


def ddl(schema_name: str, table: str, schema: pa.DataFrameSchema) -> str:
    """CREATE TABLE IF NOT EXISTS for a pandera schema (names come from this module only)."""
    cols = ",\n  ".join(
        f"{name} {column.metadata['sql_type']}{'' if column.nullable else ' NOT NULL'}"
        for name, column in schema.columns.items()
    )
    return f"CREATE TABLE IF NOT EXISTS {schema_name}.{table} (\n  {cols}\n)"
