-- escalated: deadlines on working-hours calendars, escalation chains, and the outbox.
-- Forward-only; applied in one transaction after 001.

-- The directory: calendars, supervisor groups, chains, defaults, deadlines in seconds ---------

ALTER TABLE escalated.directory_meta
    ADD COLUMN default_calendar text,
    ADD COLUMN default_chain    text;

-- Weekly hours as {"mon": ["07:30-11:30", ...]}, extra days as {"2025-06-21": ["07:30-11:30"]}.
CREATE TABLE escalated.calendars (
    ord        int NOT NULL,
    code       text PRIMARY KEY,
    time_zone  text NOT NULL,
    hours      jsonb NOT NULL,
    holidays   date[] NOT NULL DEFAULT '{}',
    extra_days jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE escalated.supervisor_groups (
    ord      int NOT NULL,
    code     text PRIMARY KEY,
    name     text NOT NULL,
    members  text[] NOT NULL DEFAULT '{}',
    includes text[] NOT NULL DEFAULT '{}'
);

-- Levels as [{"after": seconds, "notify": ["agency", "group:x"], "repeat_every": s, "repeat_times": n}].
CREATE TABLE escalated.chains (
    ord    int NOT NULL,
    code   text PRIMARY KEY,
    name   text NOT NULL,
    levels jsonb NOT NULL
);

ALTER TABLE escalated.sectors
    ADD COLUMN normal_ack_seconds     int CHECK (normal_ack_seconds > 0),
    ADD COLUMN normal_resolve_seconds int CHECK (normal_resolve_seconds > 0),
    ADD COLUMN urgent_ack_seconds     int CHECK (urgent_ack_seconds > 0),
    ADD COLUMN urgent_resolve_seconds int CHECK (urgent_resolve_seconds > 0),
    ADD COLUMN calendar_code          text,
    ADD COLUMN chain_code             text;
UPDATE escalated.sectors
   SET normal_ack_seconds = normal_ack_minutes * 60, normal_resolve_seconds = normal_resolve_minutes * 60,
       urgent_ack_seconds = urgent_ack_minutes * 60, urgent_resolve_seconds = urgent_resolve_minutes * 60;
ALTER TABLE escalated.sectors
    DROP COLUMN normal_ack_minutes, DROP COLUMN normal_resolve_minutes,
    DROP COLUMN urgent_ack_minutes, DROP COLUMN urgent_resolve_minutes;

-- Issues: deadlines and where each stands on its chain -----------------------------------------

-- Deadlines are fixed when an issue is routed (counted from its report) and move only by an
-- extension or a reopening. `due_at` is the deadline running now (acknowledge, then resolve;
-- none once resolved), for the overdue list. `next_escalation_at` is when the next step of the
-- chain fires; the escalator claims on it. Issues routed before this migration have neither.
ALTER TABLE escalated.issues
    ADD COLUMN acknowledge_due_at timestamptz,
    ADD COLUMN resolve_due_at     timestamptz,
    ADD COLUMN due_at             timestamptz,
    ADD COLUMN acknowledged_at    timestamptz,
    ADD COLUMN resolved_at        timestamptz,
    ADD COLUMN chain_code         text,
    ADD COLUMN escalation_level   int NOT NULL DEFAULT 0,
    ADD COLUMN next_escalation_at timestamptz,
    ADD COLUMN next_level         int,
    ADD COLUMN next_repeat        int,
    ADD COLUMN next_level_start   timestamptz;

-- Both partial: resolved and closed issues leave them, so their size follows what is open.
CREATE INDEX issues_next_escalation ON escalated.issues (next_escalation_at) WHERE next_escalation_at IS NOT NULL;
CREATE INDEX issues_due ON escalated.issues (due_at, id) WHERE due_at IS NOT NULL;

-- Whatever an inserter sends, an issue starts with no deadline and no escalation. (Triggers of
-- one event fire in name order: this one runs after issues_before_insert.)
CREATE FUNCTION escalated.issues_before_insert_deadlines() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.acknowledge_due_at := NULL;
    NEW.resolve_due_at := NULL;
    NEW.due_at := NULL;
    NEW.acknowledged_at := NULL;
    NEW.resolved_at := NULL;
    NEW.chain_code := NULL;
    NEW.escalation_level := 0;
    NEW.next_escalation_at := NULL;
    NEW.next_level := NULL;
    NEW.next_repeat := NULL;
    NEW.next_level_start := NULL;
    RETURN NEW;
END
$$;
CREATE TRIGGER issues_before_insert_deadlines BEFORE INSERT ON escalated.issues
    FOR EACH ROW EXECUTE FUNCTION escalated.issues_before_insert_deadlines();

-- Every firing of a chain, once: the primary key makes a second firing of a level or reminder
-- impossible, whatever the number of escalators and restarts.
CREATE TABLE escalated.escalations (
    issue_id  bigint NOT NULL,
    level     int NOT NULL CHECK (level >= 1),
    repeat    int NOT NULL CHECK (repeat >= 0),
    clock     text NOT NULL CHECK (clock IN ('acknowledge', 'resolve')),
    due_at    timestamptz NOT NULL,
    fired_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    escalator text NOT NULL,
    notified  jsonb NOT NULL,
    PRIMARY KEY (issue_id, level, repeat)
);

-- The outbox: every message to send, written in the transaction of the event that causes it.
-- The deliverer (email hook, webhooks) consumes it.
CREATE TABLE escalated.outbox (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    issue_id       bigint,
    event_id       bigint,
    kind           text NOT NULL,
    recipient_kind text NOT NULL CHECK (recipient_kind IN ('agency', 'person')),
    recipient_code text NOT NULL,
    data           jsonb NOT NULL DEFAULT '{}',
    state          text NOT NULL DEFAULT 'pending',
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX outbox_pending ON escalated.outbox (id) WHERE state = 'pending';
