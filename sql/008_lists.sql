-- escalated: lists that stay fast at a million issues.
-- Forward-only; applied in one transaction after 007. Each CREATE INDEX holds off writes to the
-- issues table while it is built (seconds for a million issues).

-- A running deadline belongs to an open issue: the lifecycle clears `due_at` when an issue is
-- resolved or closed (002), and the lists rely on it (an open inbox walks issues_due without asking
-- the state). NOT VALID: rows written before are not checked; every row written from now on is.
ALTER TABLE escalated.issues ADD CONSTRAINT issues_due_open
    CHECK (due_at IS NULL OR state IN ('routed', 'acknowledged', 'reopened')) NOT VALID;

-- A sector's open issues in deadline order (a list filtered by sector walks it and stops at a page).
-- Every index of `issues` with a running deadline takes an entry at each routing write (a state
-- change is never a HOT update), at a measured cost to routing; this is the one lists need.
CREATE INDEX issues_sector_due ON escalated.issues (sector_code, due_at, id) WHERE due_at IS NOT NULL;
