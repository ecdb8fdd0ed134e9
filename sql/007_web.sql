-- escalated: what the web app needs from the schema. Forward-only; applied in one transaction after 006.

-- Live updates: every statement that writes history wakes the daemons' live feeds (the pages open
-- in browsers), once per statement, with no row data (NOTIFY is a hint; the feed reads the events
-- table from where it stopped). Routing writes its events a batch per statement, so this costs
-- one notification per batch.
CREATE FUNCTION escalated.events_after_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('escalated_wakeup', 'events');
    RETURN NULL;
END
$$;
CREATE TRIGGER events_after_insert AFTER INSERT ON escalated.events
    FOR EACH STATEMENT EXECUTE FUNCTION escalated.events_after_insert();

-- The issue page lists the messages an issue caused.
CREATE INDEX outbox_issue ON escalated.outbox (issue_id, id);

-- Reports filed from the web page: their own origin, and the person who filed them, whom the
-- `reported` event names (as every web action's event does).
ALTER TABLE escalated.issues DROP CONSTRAINT issues_origin_check;
-- NOT VALID: every stored row passed the narrower check that this one widens.
ALTER TABLE escalated.issues ADD CONSTRAINT issues_origin_check CHECK (origin IN ('api', 'cli', 'sql', 'web')) NOT VALID;
ALTER TABLE escalated.issues
    ADD COLUMN reported_account_id bigint,
    ADD COLUMN reported_account_name text CHECK (char_length(reported_account_name) BETWEEN 1 AND 100);

CREATE OR REPLACE FUNCTION escalated.issues_after_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO escalated.events (issue_id, kind, actor, data, account_id, account_name)
    SELECT n.id, 'reported', coalesce(n.reported_by, n.origin),
           jsonb_strip_nulls(jsonb_build_object('origin', n.origin, 'reporter', n.reporter)),
           n.reported_account_id, n.reported_account_name
      FROM new_issues n;
    PERFORM pg_notify('escalated_wakeup', 'issues');
    RETURN NULL;
END
$$;

-- Messages to people with web accounts: a unit's staff hear of a resolution (one row per account,
-- written beside the event), and invitations and password resets go to one account.
ALTER TABLE escalated.outbox DROP CONSTRAINT outbox_recipient_kind_check;
ALTER TABLE escalated.outbox ADD CONSTRAINT outbox_recipient_kind_check CHECK (recipient_kind IN ('agency', 'person', 'account')) NOT VALID;
