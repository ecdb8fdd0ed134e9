-- escalated: the directory, issues, their routing and their history.
-- Forward-only. Every object lives in the schema `escalated`; the runner creates the schema and
-- the table escalated.schema_migrations before applying this file in one transaction.

DO $$
BEGIN
    IF current_setting('server_encoding') <> 'UTF8' THEN
        RAISE EXCEPTION 'escalated needs a UTF8 database; this one is %', current_setting('server_encoding');
    END IF;
END
$$;

-- The directory ------------------------------------------------------------------------------

-- One row: the revision bumps on every import that changes something, so routers reload.
CREATE TABLE escalated.directory_meta (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    revision     bigint NOT NULL DEFAULT 0,
    content_hash text,
    imported_at  timestamptz
);
INSERT INTO escalated.directory_meta DEFAULT VALUES;

CREATE TABLE escalated.people (
    ord    int NOT NULL,
    code   text PRIMARY KEY,
    name   text NOT NULL,
    email  text,
    locale text NOT NULL DEFAULT 'vi' CHECK (locale IN ('vi', 'en')),
    role   text
);

CREATE TABLE escalated.areas (
    ord         int NOT NULL,
    code        text PRIMARY KEY,
    name        text NOT NULL,
    member_code text NOT NULL REFERENCES escalated.people (code) DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE escalated.units (
    ord       int NOT NULL,
    code      text PRIMARY KEY,
    name      text NOT NULL,
    kind      text NOT NULL CHECK (kind IN ('commune', 'ward')),
    area_code text NOT NULL REFERENCES escalated.areas (code) DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE escalated.agencies (
    ord         int NOT NULL,
    code        text PRIMARY KEY,
    name        text NOT NULL,
    emails      text[] NOT NULL DEFAULT '{}',
    webhook_url text
);

CREATE TABLE escalated.sectors (
    ord                    int NOT NULL,
    code                   text PRIMARY KEY,
    name_vi                text NOT NULL,
    name_en                text NOT NULL,
    agency_code            text NOT NULL REFERENCES escalated.agencies (code) DEFERRABLE INITIALLY DEFERRED,
    normal_ack_minutes     int CHECK (normal_ack_minutes > 0),
    normal_resolve_minutes int CHECK (normal_resolve_minutes > 0),
    urgent_ack_minutes     int CHECK (urgent_ack_minutes > 0),
    urgent_resolve_minutes int CHECK (urgent_resolve_minutes > 0)
);

CREATE TABLE escalated.routing_rules (
    ord            int NOT NULL,
    id             text PRIMARY KEY,
    priority       int NOT NULL DEFAULT 0,
    match_sector   text,
    match_unit     text,
    match_area     text,
    match_severity text CHECK (match_severity IN ('normal', 'urgent')),
    agency_code    text,
    member_code    text,
    notify         text[] NOT NULL DEFAULT '{}'
);

-- Issues ---------------------------------------------------------------------------------------

-- Other systems may INSERT here directly (the SQL intake): unit_code, sector_code, title,
-- description, severity, reporter. The trigger below fixes everything else.
CREATE TABLE escalated.issues (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unit_code       text NOT NULL CHECK (char_length(unit_code) BETWEEN 1 AND 64),
    sector_code     text NOT NULL CHECK (char_length(sector_code) BETWEEN 1 AND 64),
    severity        text NOT NULL DEFAULT 'normal' CHECK (severity IN ('normal', 'urgent')),
    title           text NOT NULL CHECK (char_length(btrim(title)) BETWEEN 1 AND 200),
    description     text NOT NULL DEFAULT '' CHECK (char_length(description) <= 10000),
    reporter        text CHECK (char_length(reporter) <= 200),
    origin          text NOT NULL DEFAULT 'sql' CHECK (origin IN ('api', 'cli', 'sql')),
    state           text NOT NULL DEFAULT 'reported'
                    CHECK (state IN ('reported', 'routed', 'unroutable', 'acknowledged', 'resolved', 'closed', 'reopened')),
    version         int NOT NULL DEFAULT 1,
    idempotency_key text,
    request_hash    text,
    route_revision  bigint,
    created_at      timestamptz NOT NULL DEFAULT now(),
    routed_at       timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Only issues that came with an Idempotency-Key are indexed by it.
CREATE UNIQUE INDEX issues_idempotency_key ON escalated.issues (idempotency_key) WHERE idempotency_key IS NOT NULL;

-- What the router claims: small partial indexes, so a claim costs the same with millions of issues.
CREATE INDEX issues_reported   ON escalated.issues (id) WHERE state = 'reported';
CREATE INDEX issues_unroutable ON escalated.issues (route_revision, id) WHERE state = 'unroutable';
CREATE INDEX issues_unit       ON escalated.issues (unit_code, id);
CREATE INDEX issues_sector     ON escalated.issues (sector_code, id);
-- No index on state alone: every routing update would add an entry to it. Lists filtered by a
-- common state walk the primary key backwards; `reported` and `unroutable` have partial indexes.

-- Children of issues (assignments, events) carry no FOREIGN KEY: they are written only by
-- escalated, in the transaction that holds the issue's row lock, and the per-row FK checks cost
-- about 30% of a routing batch (measured; see BENCHMARKS.md). Tests check there are no orphans.

-- Who received what, and when. One row per target per issue.
CREATE TABLE escalated.assignments (
    issue_id    bigint NOT NULL,
    target_kind text NOT NULL CHECK (target_kind IN ('agency', 'person')),
    target_code text NOT NULL,
    role        text NOT NULL CHECK (role IN ('agency', 'member', 'watcher')),
    rule_id     text,
    assigned_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (issue_id, target_kind, target_code)
);
CREATE INDEX assignments_target ON escalated.assignments (target_kind, target_code, issue_id);

-- The append-only history of every issue.
CREATE TABLE escalated.events (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    issue_id bigint NOT NULL,
    kind     text NOT NULL,
    actor    text NOT NULL,
    data     jsonb NOT NULL DEFAULT '{}',
    at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX events_issue ON escalated.events (issue_id, id);
-- Routing happens once per issue: a second `routed` event cannot be written.
CREATE UNIQUE INDEX events_routed_once ON escalated.events (issue_id) WHERE kind = 'routed';

-- Intake, whatever the path --------------------------------------------------------------------

-- Every new issue starts as `reported`, with its text in NFC, whatever the inserter sent.
CREATE FUNCTION escalated.issues_before_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.title := normalize(btrim(NEW.title), NFC);
    NEW.description := normalize(coalesce(NEW.description, ''), NFC);
    NEW.reporter := normalize(nullif(btrim(NEW.reporter), ''), NFC);
    NEW.state := 'reported';
    NEW.version := 1;
    NEW.route_revision := NULL;
    NEW.routed_at := NULL;
    NEW.created_at := now();
    NEW.updated_at := now();
    RETURN NEW;
END
$$;
CREATE TRIGGER issues_before_insert BEFORE INSERT ON escalated.issues
    FOR EACH ROW EXECUTE FUNCTION escalated.issues_before_insert();

-- One `reported` event per issue, and one wake-up per statement (never row data: NOTIFY is a hint).
CREATE FUNCTION escalated.issues_after_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO escalated.events (issue_id, kind, actor, data)
    SELECT n.id, 'reported', n.origin,
           jsonb_strip_nulls(jsonb_build_object('origin', n.origin, 'reporter', n.reporter))
      FROM new_issues n;
    PERFORM pg_notify('escalated_wakeup', 'issues');
    RETURN NULL;
END
$$;
CREATE TRIGGER issues_after_insert AFTER INSERT ON escalated.issues
    REFERENCING NEW TABLE AS new_issues
    FOR EACH STATEMENT EXECUTE FUNCTION escalated.issues_after_insert();
