-- escalated: API tokens, and what reassignment and comments need.
-- Forward-only; applied in one transaction after 003.

-- An API token names one actor: a unit, an agency, a member (a person in charge of areas), a
-- supervisor (a person) or the operator (admin). Only the SHA-256 of the token is kept; the token
-- itself is shown once, when it is made.
CREATE TABLE escalated.tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor_kind   text NOT NULL CHECK (actor_kind IN ('unit', 'agency', 'member', 'supervisor', 'admin')),
    actor_code   text CHECK (actor_code IS NULL OR char_length(actor_code) BETWEEN 1 AND 64),
    name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    secret_hash  bytea NOT NULL UNIQUE CHECK (octet_length(secret_hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    CHECK (actor_kind = 'admin' OR actor_code IS NOT NULL)
);

-- Lists by area: the units of an area.
CREATE INDEX units_area ON escalated.units (area_code, code);
-- Scoping a member: the areas a person is in charge of.
CREATE INDEX areas_member ON escalated.areas (member_code);
-- No index for the inbox's deadline order: one on open states would take an entry on every routing
-- update (measured: the routing backlog fell from about 27,000 to 22,500 issues/s). Scoped inboxes
-- start from the unit, assignment and area indexes.
-- The summary report reads issues received in a window.
CREATE INDEX issues_created ON escalated.issues (created_at, id);

-- Who filed a report through the API (the token's actor, `unit:LC-SAPA-01`); the `reported` event
-- names it. Other systems inserting directly may set it too; without it the event names the origin.
ALTER TABLE escalated.issues ADD COLUMN reported_by text CHECK (char_length(reported_by) BETWEEN 1 AND 80);

CREATE OR REPLACE FUNCTION escalated.issues_after_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO escalated.events (issue_id, kind, actor, data)
    SELECT n.id, 'reported', coalesce(n.reported_by, n.origin),
           jsonb_strip_nulls(jsonb_build_object('origin', n.origin, 'reporter', n.reporter))
      FROM new_issues n;
    PERFORM pg_notify('escalated_wakeup', 'issues');
    RETURN NULL;
END
$$;
