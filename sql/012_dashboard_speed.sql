-- escalated: the dashboards at national scale. Forward-only; applied in one transaction after 011.

-- The agency responsible now, kept on the issue row: written by routing (with the `agency`
-- assignment) and by a reassignment (with the handover), so the reports group by it without
-- looking it up in `assignments` per issue. NULL while an issue is unrouted or unroutable.
-- The assignments stay the record of who got what and when; this is their latest `agency` row.
-- Filling it rewrites every routed issue's row once; run again (after a rolling upgrade, whose
-- older daemons do not write the column), it rewrites only the rows that differ.
ALTER TABLE escalated.issues ADD COLUMN agency_code text;

UPDATE escalated.issues i SET agency_code = a.target_code
  FROM (SELECT DISTINCT ON (issue_id) issue_id, target_code FROM escalated.assignments
         WHERE target_kind = 'agency' AND role = 'agency' ORDER BY issue_id, assigned_at DESC) a
 WHERE a.issue_id = i.id AND i.agency_code IS DISTINCT FROM a.target_code;

-- The dashboards read only these indexes (index-only scans; VACUUM keeps the visibility map that
-- lets them skip the table), so a month of a national directory is read from about 1 MB instead
-- of the rows it lies in:
-- * a period's reports, by report time: replaces 004's issues_created (same key; the list's
--   newest-first order still walks it);
DROP INDEX escalated.issues_created;
CREATE INDEX issues_created ON escalated.issues (created_at, id)
    INCLUDE (unit_code, sector_code, agency_code, state, due_at, acknowledged_at, acknowledge_due_at, resolved_at, resolve_due_at,
             acknowledge_work_seconds, resolve_work_seconds);
-- * the open issues (what the list calls open), by unit: where things stand now, and the overdue
--   spans of the issues still open;
CREATE INDEX issues_open ON escalated.issues (unit_code)
    INCLUDE (id, sector_code, agency_code, due_at, acknowledged_at, acknowledge_due_at, resolve_due_at, resolved_at)
    WHERE (due_at IS NOT NULL) OR (due_at IS NULL AND state IN ('routed', 'acknowledged', 'reopened', 'unroutable'));
-- * the resolutions, by time: replaces 010's issues_resolved (same key), for the resolved per day
--   and the overdue spans of the issues resolved since a period began.
DROP INDEX escalated.issues_resolved;
CREATE INDEX issues_resolved ON escalated.issues (resolved_at)
    INCLUDE (id, unit_code, sector_code, due_at, acknowledged_at, acknowledge_due_at, resolve_due_at)
    WHERE resolved_at IS NOT NULL;
