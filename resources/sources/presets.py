"""Column presets of common ITSM tools: where each canonical field sits in their exports, their
vocabularies, date format and table names.

A preset fills what a source entry in config/sources.yaml leaves out (explicit entries always
win), so a ServiceNow, Jira Service Management, GLPI or iTop source needs only a name, a kind and
where its data is. Field names on the left are the canonical fields of
assets/step4_process/entities.py; the raw-only entities (`slas`, `history`) use the pseudo-fields
`key`, `updated_at` and `created_at`, which step 3 needs for its contract and its day partitions,
and `history` also `table`, `field`, `old_value` and `new_value`, which step 4 folds into
clean.incident_history (assets/step4_process/incident_history.py).

Pure data: imported while configuration is validated, so nothing here may import the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ColumnMap = dict[str, dict[str, str]]


@dataclass(frozen=True)
class Preset:
    description: str
    columns: ColumnMap = field(default_factory=dict)
    mappings: dict[str, dict[str, str]] = field(default_factory=dict)
    timestamp_format: str | None = None
    tables: dict[str, str] = field(default_factory=dict)  # SQL table or ServiceNow table
    filters: dict[str, dict[str, Any]] = field(default_factory=dict)  # SQL column = value


SERVICENOW_PRIORITY = {
    "1 - Critical": "1", "2 - High": "2", "3 - Moderate": "3", "4 - Low": "4",
    "5 - Planning": "5",
    # Internal values, when the export or API returns values instead of display values.
    "1": "1", "2": "2", "3": "3", "4": "4", "5": "5",
}

SERVICENOW = Preset(
    description="ServiceNow list exports (CSV/Excel with field names as headers) and the Table "
    "API: incident, change_request, problem, task_sla and sys_audit. The field names are "
    "the defaults of the canonical model, so only vocabularies and tables are set here.",
    columns={
        "slas": {"key": "sys_id", "updated_at": "sys_updated_on", "created_at": "start_time"},
        "history": {"key": "documentkey", "updated_at": "sys_created_on"},
    },
    mappings={
        "incident_priority": SERVICENOW_PRIORITY,
        "incident_state": {
            "New": "new", "In Progress": "in_progress", "On Hold": "on_hold",
            "Resolved": "resolved", "Closed": "closed", "Canceled": "closed",
            "1": "new", "2": "in_progress", "3": "on_hold", "6": "resolved", "7": "closed",
            "8": "closed",
        },
        "change_type": {"Normal": "normal", "Standard": "standard", "Emergency": "emergency",
                        "normal": "normal", "standard": "standard", "emergency": "emergency"},
        "change_state": {
            "New": "new", "Assess": "assess", "Authorize": "authorize",
            "Scheduled": "scheduled", "Implement": "implement", "Review": "review",
            "Closed": "closed", "Canceled": "cancelled", "Cancelled": "cancelled",
            "-5": "new", "-4": "assess", "-3": "authorize", "-2": "scheduled",
            "-1": "implement", "0": "review", "3": "closed", "4": "cancelled",
        },
        "change_close_code": {
            "Successful": "successful", "Successful with issues": "successful_with_issues",
            "Unsuccessful": "failed", "successful": "successful",
            "successful_issues": "successful_with_issues", "unsuccessful": "failed",
        },
        "problem_state": {
            "New": "new", "Assess": "assess", "Root Cause Analysis": "root_cause_analysis",
            "Fix in Progress": "fix_in_progress", "Resolved": "resolved", "Closed": "closed",
            "101": "new", "102": "assess", "103": "root_cause_analysis",
            "104": "fix_in_progress", "106": "resolved", "107": "closed",
        },
        # sys_audit: which audited fields and tables step 4 folds into incident intervals.
        "history_field": {"state": "state", "assignment_group": "assignment_group",
                          "priority": "priority"},
        "history_table": {"incident": "incidents"},
    },
    timestamp_format="%Y-%m-%d %H:%M:%S",
    tables={"incidents": "incident", "changes": "change_request", "problems": "problem",
            "slas": "task_sla", "history": "sys_audit"},
)

JIRA_SM = Preset(
    description="Jira Service Management CSV export (Filters > Export > CSV, all fields): "
    "headers are field names, multi-valued fields repeat their header (landed as Labels, "
    "Labels_1, ...), dates in Jira's default dd/MMM/yy h:mm a, SLA fields as remaining time "
    "(negative when breached), kept as text for step 4.",
    columns={
        "incidents": {
            "incident_id": "Issue key", "service": "Custom field (Affected services)",
            "assignment_group": "Custom field (Team)", "category": "Custom field (Request Type)",
            "priority": "Priority", "state": "Status", "opened_at": "Created",
            "resolved_at": "Resolved", "updated_at": "Updated", "caller": "Reporter",
            "assignee": "Assignee", "short_description": "Summary", "ci": "Component/s",
        },
        "changes": {
            "change_id": "Issue key", "service": "Custom field (Affected services)",
            "change_type": "Custom field (Change type)", "state": "Status",
            "created_at": "Created", "updated_at": "Updated",
            "start_at": "Custom field (Planned start)", "end_at": "Custom field (Planned end)",
            "short_description": "Summary",
        },
        "problems": {
            "problem_id": "Issue key", "service": "Custom field (Affected services)",
            "state": "Status", "opened_at": "Created", "resolved_at": "Resolved",
            "updated_at": "Updated", "short_description": "Summary",
        },
    },
    mappings={
        "incident_priority": {"Highest": "1", "High": "2", "Medium": "3", "Low": "4",
                              "Lowest": "5"},
        "incident_state": {
            "Open": "new", "Waiting for support": "new", "Work in progress": "in_progress",
            "In Progress": "in_progress", "In progress": "in_progress",
            "Under investigation": "in_progress", "Escalated": "in_progress",
            "Waiting for customer": "on_hold", "Pending": "on_hold", "Resolved": "resolved",
            "Completed": "resolved", "Closed": "closed", "Canceled": "closed",
            "Declined": "closed",
        },
        "change_type": {"Normal": "normal", "Standard": "standard", "Emergency": "emergency"},
        "change_state": {
            "Open": "new", "Planning": "assess", "Awaiting CAB approval": "authorize",
            "Awaiting implementation": "scheduled", "Implementing": "implement",
            "Completed": "closed", "Closed": "closed", "Canceled": "cancelled",
            "Declined": "cancelled",
        },
        "problem_state": {
            "Open": "new", "Under review": "assess", "Under investigation": "root_cause_analysis",
            "In progress": "fix_in_progress", "Completed": "resolved", "Closed": "closed",
            "Canceled": "closed",
        },
    },
    timestamp_format="%d/%b/%y %I:%M %p",
)

GLPI = Preset(
    description="GLPI's database (glpi_tickets, glpi_logs) read over SQL, or a GLPI CSV export "
    "with the same column names. Tickets of type 1 (incident) that are not deleted; status and "
    "priority are GLPI's numeric codes; waiting_duration is seconds on hold.",
    columns={
        "incidents": {
            "incident_id": "id", "opened_at": "date", "acknowledged_at": "takeintoaccountdate",
            "resolved_at": "solvedate", "closed_at": "closedate", "updated_at": "date_mod",
            "priority": "priority", "state": "status", "category": "itilcategories_id",
            "on_hold_minutes": "waiting_duration",
            "short_description": "name", "caller": "users_id_recipient",
        },
        "history": {"key": "items_id", "updated_at": "date_mod", "field": "id_search_option",
                    "old_value": "old_value", "new_value": "new_value"},
    },
    mappings={
        # GLPI priority 6 major .. 1 very low; canonical 1 critical .. 5 planning.
        "incident_priority": {"6": "1", "5": "2", "4": "2", "3": "3", "2": "4", "1": "5"},
        # 1 new, 2 processing (assigned), 3 processing (planned), 4 pending, 5 solved, 6 closed.
        "incident_state": {"1": "new", "2": "in_progress", "3": "in_progress", "4": "on_hold",
                           "5": "resolved", "6": "closed"},
        # glpi_logs names the field by its search option: 12 status, 3 priority. Group changes
        # are logged as links (Group_Ticket) without a search option and are not folded.
        "history_field": {"12": "state", "3": "priority"},
    },
    timestamp_format="%Y-%m-%d %H:%M:%S",
    tables={"incidents": "glpi_tickets", "history": "glpi_logs"},
    filters={"incidents": {"type": 1, "is_deleted": 0}, "history": {"itemtype": "Ticket"}},
)

ITOP = Preset(
    description="iTop UserRequest export (CSV with attribute codes as headers): ref, status, "
    "priority, start_date, last_update; the tto/ttr stopwatch sub-fields are landed as they "
    "come for the SLA records.",
    columns={
        "incidents": {
            "incident_id": "ref", "service": "service_id_friendlyname",
            "ci": "functionalcis_list", "assignment_group": "team_id_friendlyname",
            "category": "servicesubcategory_id_friendlyname", "priority": "priority",
            "state": "status", "contact_type": "origin", "opened_at": "start_date",
            "acknowledged_at": "assignment_date", "resolved_at": "resolution_date",
            "closed_at": "close_date", "updated_at": "last_update",
            "on_hold_minutes": "cumulatedpending_timespent", "caller": "caller_id_friendlyname",
            "assignee": "agent_id_friendlyname", "short_description": "title",
            "problem_id": "parent_problem_id_friendlyname",
            "caused_by_change": "parent_change_id_friendlyname",
        },
    },
    mappings={
        "incident_priority": {"1": "1", "2": "2", "3": "3", "4": "4"},
        "incident_state": {
            "new": "new", "escalated_tto": "new", "assigned": "in_progress",
            "escalated_ttr": "in_progress", "dispatched": "in_progress",
            "redispatched": "in_progress", "waiting_for_approval": "on_hold",
            "approved": "in_progress", "rejected": "closed", "pending": "on_hold",
            "resolved": "resolved", "closed": "closed",
        },
    },
    timestamp_format="%Y-%m-%d %H:%M:%S",
)

PRESETS: dict[str, Preset] = {
    "servicenow": SERVICENOW, "jira_sm": JIRA_SM, "glpi": GLPI, "itop": ITOP,
}

EXTRA_ENTITY_FIELDS: dict[str, dict[str, str]] = {
    "slas": {"key": "sys_id", "updated_at": "sys_updated_on", "created_at": "start_time"},
    "history": {"key": "documentkey", "updated_at": "sys_created_on", "table": "tablename",
                "field": "fieldname", "old_value": "oldvalue", "new_value": "newvalue"},
}
"""Pseudo-fields of the raw-only entities and their ServiceNow-style default columns."""
