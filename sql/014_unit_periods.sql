-- escalated: a period's reports and resolutions by unit. Forward-only; applied in one transaction after 013.

-- An area's dashboard (a supervisor's `?area=`) and any page or report narrowed to some units
-- read a period's reports and resolutions of those units only: per unit a range of these
-- indexes, instead of the whole directory's period from issues_created / issues_resolved with
-- the other units' entries dropped (for one area of a national directory, 800 of a month's
-- 27,000). They cover what 013's indexes cover, so the statements stay index-only.
-- 001's issues_unit (unit_code, id) stays: a unit's list, newest first, is read from it in order.
-- The resolutions' index is partial: a row being routed is not resolved, so routing never writes it.
CREATE INDEX issues_unit_created ON escalated.issues (unit_code, created_at, id)
    INCLUDE (sector_code, agency_code, state, due_at, acknowledged_at, acknowledge_due_at, resolved_at, resolve_due_at,
             acknowledge_work_seconds, resolve_work_seconds, people);
CREATE INDEX issues_unit_resolved ON escalated.issues (unit_code, resolved_at)
    INCLUDE (id, sector_code, due_at, acknowledged_at, acknowledge_due_at, resolve_due_at, people)
    WHERE resolved_at IS NOT NULL;
