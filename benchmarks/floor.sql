-- The floor: what the pipeline's steps 3 and 4 do to the benchmark's files, written by hand as
-- one DuckDB script with no orchestration, no staging, no checks and no per-day bookkeeping.
-- benchmarks/floor.py fills in the {placeholders} (file lists, the business-hours SQL of
-- config/calendar.yaml) and binds $fmt and $salt; the KPI facts are then computed from these
-- clean tables with the catalogue's own SQL (assets/kpi_sql.py).

-- raw: every file of the range, as text, with the day each row is partitioned on
CREATE TABLE raw.incidents AS SELECT *, {partition_incidents} AS _partition
FROM read_csv({files_incidents}, all_varchar = true, header = true, filename = true);
CREATE TABLE raw.changes AS SELECT *, {partition_changes} AS _partition
FROM read_csv({files_changes}, all_varchar = true, header = true, filename = true);
CREATE TABLE raw.problems AS SELECT *, {partition_problems} AS _partition
FROM read_csv({files_problems}, all_varchar = true, header = true, filename = true);
CREATE TABLE raw.outages AS SELECT *, {partition_outages} AS _partition
FROM read_csv({files_outages}, all_varchar = true, header = true, filename = true);
CREATE TABLE raw.surveys AS SELECT *, {partition_surveys} AS _partition
FROM read_csv({files_surveys}, all_varchar = true, header = true, filename = true);

-- clean: typed rows; `ok` when every rule of step 4 holds; the newest valid version of each key
-- is kept, everything else goes to the quarantine
CREATE TEMP TABLE t_incidents AS
SELECT nullif(trim(number), '') AS incident_id, nullif(trim(business_service), '') AS service,
       nullif(trim(cmdb_ci), '') AS ci, nullif(trim(assignment_group), '') AS assignment_group,
       nullif(trim(category), '') AS category, CAST(p.canonical AS SMALLINT) AS priority,
       s.canonical AS state, nullif(trim(contact_type), '') AS contact_type,
       try_strptime(nullif(trim(opened_at), ''), $fmt) AS opened_at,
       try_strptime(nullif(trim(acknowledged_at), ''), $fmt) AS acknowledged_at,
       try_strptime(nullif(trim(resolved_at), ''), $fmt) AS resolved_at,
       try_strptime(nullif(trim(closed_at), ''), $fmt) AS closed_at,
       try_strptime(nullif(trim(sys_updated_on), ''), $fmt) AS updated_at,
       coalesce(try_cast(nullif(trim(hold_duration), '') AS DOUBLE), 0) / 60 AS on_hold_minutes,
       CAST(coalesce(try_cast(nullif(trim(reassignment_count), '') AS BIGINT), 0) AS INTEGER)
         AS reassignment_count,
       CAST(coalesce(try_cast(nullif(trim(reopen_count), '') AS BIGINT), 0) AS INTEGER)
         AS reopen_count,
       nullif(trim(problem_id), '') AS problem_id, nullif(trim(caused_by), '') AS caused_by_change,
       'p-' || left(sha256($salt || nullif(trim(caller_id), '')), 16) AS caller,
       'p-' || left(sha256($salt || nullif(trim(assigned_to), '')), 16) AS assignee,
       nullif(trim(short_description), '') AS short_description,
       'bench' AS _source, _partition, r.rowid AS _row, now()::TIMESTAMP AS _loaded_at,
       nullif(trim(number), '') IS NOT NULL AND p.canonical IS NOT NULL
         AND s.canonical IS NOT NULL AND opened_at IS NOT NULL
         AND try_strptime(nullif(trim(opened_at), ''), $fmt) BETWEEN TIMESTAMP '1990-01-01'
             AND now()::TIMESTAMP
         AND (nullif(trim(resolved_at), '') IS NULL
              OR try_strptime(nullif(trim(resolved_at), ''), $fmt)
                 >= try_strptime(nullif(trim(opened_at), ''), $fmt))
         AND (nullif(trim(acknowledged_at), '') IS NULL
              OR try_strptime(nullif(trim(acknowledged_at), ''), $fmt)
                 >= try_strptime(nullif(trim(opened_at), ''), $fmt))
         AND (nullif(trim(closed_at), '') IS NULL
              OR try_strptime(nullif(trim(closed_at), ''), $fmt)
                 >= try_strptime(nullif(trim(resolved_at), ''), $fmt)) AS ok
FROM raw.incidents r
LEFT JOIN _map p ON p.mapping = 'incident_priority' AND p.code = trim(r.priority)
LEFT JOIN _map s ON s.mapping = 'incident_state' AND s.code = trim(r.state);

CREATE TABLE clean.incidents AS
SELECT * EXCLUDE (ok),
       date_diff('second', opened_at, acknowledged_at) / 60.0 AS minutes_to_acknowledge,
       greatest(date_diff('second', opened_at, resolved_at) / 60.0 - on_hold_minutes, 0)
         AS minutes_to_resolve,
       CASE WHEN reopen_count = 0 THEN resolved_at END AS first_resolved_at,
       {business_acknowledge} AS minutes_to_acknowledge_business,
       {business_resolve} AS minutes_to_resolve_business
FROM t_incidents WHERE ok
QUALIFY row_number() OVER (PARTITION BY incident_id
                           ORDER BY updated_at DESC NULLS LAST, _partition DESC, _row DESC) = 1;

CREATE TABLE clean.incidents_quarantine AS
SELECT t.incident_id AS source_key, t._partition, t._row, CAST(to_json(r) AS VARCHAR) AS raw_row
FROM t_incidents t JOIN raw.incidents r ON r.rowid = t._row
WHERE NOT EXISTS (SELECT 1 FROM clean.incidents c
                  WHERE c._partition = t._partition AND c._row = t._row);

CREATE TEMP TABLE t_changes AS
SELECT nullif(trim(number), '') AS change_id, nullif(trim(business_service), '') AS service,
       nullif(trim(cmdb_ci), '') AS ci, nullif(trim(assignment_group), '') AS assignment_group,
       y.canonical AS change_type, s.canonical AS state, o.canonical AS outcome,
       try_strptime(nullif(trim(sys_created_on), ''), $fmt) AS created_at,
       try_strptime(nullif(trim(start_date), ''), $fmt) AS start_at,
       try_strptime(nullif(trim(end_date), ''), $fmt) AS end_at,
       try_strptime(nullif(trim(sys_updated_on), ''), $fmt) AS updated_at,
       nullif(trim(short_description), '') AS short_description,
       'bench' AS _source, _partition, r.rowid AS _row, now()::TIMESTAMP AS _loaded_at,
       nullif(trim(number), '') IS NOT NULL AND y.canonical IS NOT NULL
         AND s.canonical IS NOT NULL AND (nullif(trim(close_code), '') IS NULL
                                          OR o.canonical IS NOT NULL)
         AND try_strptime(nullif(trim(sys_created_on), ''), $fmt) IS NOT NULL
         AND (nullif(trim(end_date), '') IS NULL
              OR try_strptime(nullif(trim(end_date), ''), $fmt)
                 >= try_strptime(nullif(trim(start_date), ''), $fmt)) AS ok
FROM raw.changes r
LEFT JOIN _map y ON y.mapping = 'change_type' AND y.code = trim(r.type)
LEFT JOIN _map s ON s.mapping = 'change_state' AND s.code = trim(r.state)
LEFT JOIN _map o ON o.mapping = 'change_close_code' AND o.code = trim(r.close_code);

CREATE TABLE clean.changes AS SELECT * EXCLUDE (ok) FROM t_changes WHERE ok
QUALIFY row_number() OVER (PARTITION BY change_id
                           ORDER BY updated_at DESC NULLS LAST, _partition DESC, _row DESC) = 1;

CREATE TABLE clean.changes_quarantine AS
SELECT t.change_id AS source_key, t._partition, t._row, CAST(to_json(r) AS VARCHAR) AS raw_row
FROM t_changes t JOIN raw.changes r ON r.rowid = t._row
WHERE NOT EXISTS (SELECT 1 FROM clean.changes c
                  WHERE c._partition = t._partition AND c._row = t._row);

CREATE TABLE clean.problems AS
SELECT * EXCLUDE (ok) FROM (
  SELECT nullif(trim(number), '') AS problem_id, nullif(trim(business_service), '') AS service,
         nullif(trim(cmdb_ci), '') AS ci, nullif(trim(category), '') AS category,
         s.canonical AS state, try_strptime(nullif(trim(opened_at), ''), $fmt) AS opened_at,
         try_strptime(nullif(trim(resolved_at), ''), $fmt) AS resolved_at,
         try_strptime(nullif(trim(sys_updated_on), ''), $fmt) AS updated_at,
         nullif(trim(short_description), '') AS short_description,
         'bench' AS _source, _partition, r.rowid AS _row, now()::TIMESTAMP AS _loaded_at,
         nullif(trim(number), '') IS NOT NULL AND s.canonical IS NOT NULL AS ok
  FROM raw.problems r
  LEFT JOIN _map s ON s.mapping = 'problem_state' AND s.code = trim(r.state))
WHERE ok AND opened_at IS NOT NULL AND (resolved_at IS NULL OR resolved_at >= opened_at)
QUALIFY row_number() OVER (PARTITION BY problem_id
                           ORDER BY updated_at DESC NULLS LAST, _partition DESC, _row DESC) = 1;

CREATE TABLE clean.outages AS
SELECT * EXCLUDE (ok), outage_type = 'planned' AS planned,
       date_diff('second', start_at, end_at) / 60.0 AS duration_minutes
FROM (
  SELECT nullif(trim(outage_id), '') AS outage_id, nullif(trim(service), '') AS service,
         nullif(trim(cmdb_ci), '') AS ci, y.canonical AS outage_type,
         try_strptime(nullif(trim("begin"), ''), $fmt) AS start_at,
         try_strptime(nullif(trim("end"), ''), $fmt) AS end_at,
         try_strptime(nullif(trim(sys_updated_on), ''), $fmt) AS updated_at,
         nullif(trim(description), '') AS description,
         'bench' AS _source, _partition, r.rowid AS _row, now()::TIMESTAMP AS _loaded_at,
         nullif(trim(outage_id), '') IS NOT NULL AND y.canonical IS NOT NULL AS ok
  FROM raw.outages r
  LEFT JOIN _map y ON y.mapping = 'outage_type' AND y.code = trim(r.type))
WHERE ok AND start_at IS NOT NULL AND (end_at IS NULL OR end_at >= start_at)
QUALIFY row_number() OVER (PARTITION BY outage_id
                           ORDER BY updated_at DESC NULLS LAST, _partition DESC, _row DESC) = 1;

CREATE TABLE clean.surveys AS
SELECT * FROM (
  SELECT nullif(trim(response_id), '') AS response_id, nullif(trim(incident), '') AS incident_id,
         nullif(trim(business_service), '') AS service,
         try_strptime(nullif(trim(sent_at), ''), $fmt) AS sent_at,
         try_strptime(nullif(trim(responded_at), ''), $fmt) AS responded_at,
         CAST(try_cast(nullif(trim(score), '') AS BIGINT) AS SMALLINT) AS score,
         nullif(trim(comment), '') AS comment,
         'bench' AS _source, _partition, r.rowid AS _row, now()::TIMESTAMP AS _loaded_at
  FROM raw.surveys r)
WHERE response_id IS NOT NULL AND sent_at IS NOT NULL AND (score IS NULL OR score BETWEEN 1 AND 5)
  AND (responded_at IS NULL OR responded_at >= sent_at)
QUALIFY row_number() OVER (PARTITION BY response_id ORDER BY _partition DESC, _row DESC) = 1;

-- SLA records: one per incident and SLA type, as assets/step4_process/sla_records.py
CREATE TABLE clean.sla_records AS
SELECT i.incident_id, s.sla_type, i.service, i.priority,
       CASE s.sla_type WHEN 'response' THEN l.response_minutes ELSE l.resolution_minutes END
         AS target_minutes,
       i.opened_at AS start_at,
       CASE s.sla_type WHEN 'response' THEN i.acknowledged_at ELSE i.resolved_at END AS stop_at,
       CASE s.sla_type
         WHEN 'response' THEN coalesce(i.minutes_to_acknowledge,
                                       date_diff('second', i.opened_at, i._loaded_at) / 60.0)
         ELSE coalesce(i.minutes_to_resolve,
                       greatest(date_diff('second', i.opened_at, i._loaded_at) / 60.0
                                - i.on_hold_minutes, 0)) END AS elapsed_minutes,
       CASE WHEN stop_at IS NULL THEN 'in_progress' ELSE 'completed' END AS stage,
       elapsed_minutes > target_minutes AS breached, i._partition
FROM clean.incidents i
CROSS JOIN (VALUES ('response'), ('resolution')) AS s(sla_type)
JOIN strategy.service_levels l ON l.priority = i.priority;
