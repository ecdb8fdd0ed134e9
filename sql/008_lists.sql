-- escalated: lists that stay fast at a million issues.
-- Forward-only; applied in one transaction after 007. Each CREATE INDEX holds off writes to the
-- issues table while it is built (seconds for a million issues).

-- A running deadline belongs to an open issue: the lifecycle clears `due_at` when an issue is
-- resolved or closed (002), and the lists rely on it (an open inbox walks issues_due without asking
-- the state). NOT VALID: rows written before are not checked; every row written from now on is.
ALTER TABLE escalated.issues ADD CONSTRAINT issues_due_open
    CHECK (due_at IS NULL OR state IN ('routed', 'acknowledged', 'reopened')) NOT VALID;

-- A sector's open issues in deadline order (a list filtered by sector walks it and stops at a page).
CREATE INDEX issues_sector_due ON escalated.issues (sector_code, due_at, id) WHERE due_at IS NOT NULL;

-- Open issues of one state, newest first (a state filter's order).
CREATE INDEX issues_state_due ON escalated.issues (state, id) WHERE due_at IS NOT NULL;

-- Each issue's responsible agency (an agency's inbox asks, for every open issue it walks, whether
-- the agency is responsible for it): small, and answered from the index alone.
CREATE INDEX assignments_responsible ON escalated.assignments (issue_id, target_code) WHERE target_kind = 'agency' AND role = 'agency';
