-- escalated: a member's scope read from the issue row. Forward-only; applied in one transaction after 012.

-- The persons routing assigned the issue to (its `person` assignments: the member in charge of
-- the unit's area, and any member a rule names), kept on the issue row as routing writes them
-- (in code order, bytewise), so a member's scope (the area's units, or an issue assigned to them
-- as a person) is a test on the row, read from the dashboards' covering indexes, instead of a
-- look-up in `assignments` (for a member of a national directory, tens of thousands of rows
-- hashed by every statement).
-- Only routing assigns persons; the assignments stay the record of who got what and when.
-- Adding the column with its empty default rewrites nothing; filling it writes every routed
-- issue's row once; run again (after a rolling upgrade, whose older daemons do not write it),
-- it rewrites only the rows that differ.
ALTER TABLE escalated.issues ADD COLUMN people text[] NOT NULL DEFAULT '{}';

-- Before the fill, so that it does not write them; rebuilt below with the column.
DROP INDEX escalated.issues_created;
DROP INDEX escalated.issues_resolved;

UPDATE escalated.issues i SET people = a.codes
  FROM (SELECT issue_id, array_agg(target_code ORDER BY target_code COLLATE "C") AS codes FROM escalated.assignments
         WHERE target_kind = 'person' GROUP BY issue_id) a
 WHERE a.issue_id = i.id AND i.people IS DISTINCT FROM a.codes;

-- 012's indexes of a period's reports and resolutions, with `people` added to what they cover
-- (012's issues_open stays as it was: a member's open issues are read from it by unit, and
-- those assigned to them as a person elsewhere from issues_open_people, below).
CREATE INDEX issues_created ON escalated.issues (created_at, id)
    INCLUDE (unit_code, sector_code, agency_code, state, due_at, acknowledged_at, acknowledge_due_at, resolved_at, resolve_due_at,
             acknowledge_work_seconds, resolve_work_seconds, people);
CREATE INDEX issues_resolved ON escalated.issues (resolved_at)
    INCLUDE (id, unit_code, sector_code, due_at, acknowledged_at, acknowledge_due_at, resolve_due_at, people)
    WHERE resolved_at IS NOT NULL;

-- A member's open issues assigned to them as a person, wherever the unit (the dashboards read
-- those of their area's units from issues_open, and the rest from here): the open states only,
-- which are the open issues (a running deadline belongs to an open issue, 008).
CREATE INDEX issues_open_people ON escalated.issues USING gin (people)
    WHERE state IN ('routed', 'acknowledged', 'reopened', 'unroutable');
