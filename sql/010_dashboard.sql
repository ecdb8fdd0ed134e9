-- escalated: what the dashboards and periodic reports read. Forward-only; applied in one
-- transaction after 009.

-- Time to acknowledge and to resolve, in counted time (the sector's working calendar; every hour
-- for urgent issues), as the deadlines count it. Written by the transaction that acknowledges or
-- resolves (reopening clears the resolution's, unacknowledging the acknowledgement's), so the
-- reports' medians and p90s are plain aggregates. Issues acknowledged or resolved before this
-- migration have none: the working-time figures leave them out (their wall-clock ones remain).
ALTER TABLE escalated.issues
    ADD COLUMN acknowledge_work_seconds int,
    ADD COLUMN resolve_work_seconds     int;

-- Resolved per day, and the issues resolved since a period began (which, with the open ones, are
-- all that can have been overdue in it). One entry per resolution: routing never writes it.
CREATE INDEX issues_resolved ON escalated.issues (resolved_at) WHERE resolved_at IS NOT NULL;

-- The organisation's name (the directory's optional `name:`), at the head of its reports.
ALTER TABLE escalated.directory_meta ADD COLUMN name text CHECK (char_length(name) BETWEEN 1 AND 200);
