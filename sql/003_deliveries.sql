-- escalated: delivering the outbox (the email hook, webhooks), with leases, retries and dead letters.
-- Forward-only; applied in one transaction after 002.

-- One outbox row is one message to one recipient over one channel. A sender leases a row by
-- moving next_attempt_at to the end of its lease: a sender that dies mid-send leaves the row to
-- come due again when the lease runs out. attempts counts the leases taken.
ALTER TABLE escalated.outbox
    ADD COLUMN channel         text NOT NULL DEFAULT 'email' CHECK (channel IN ('email', 'webhook', 'none')),
    ADD COLUMN attempts        int NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    ADD COLUMN leased_by       text,
    ADD COLUMN last_answer     text,
    ADD COLUMN transport       text,
    ADD COLUMN sent_at         timestamptz,
    ADD CONSTRAINT outbox_state CHECK (state IN ('pending', 'sent', 'dead'));

-- Rows written before this migration (escalations of 002) have no channel decided; they are
-- left as they were, for an operator to re-drive once recipients have addresses.
UPDATE escalated.outbox SET state = 'dead', channel = 'none',
       last_answer = 'written before deliveries existed; re-drive with `escalated deliveries retry`'
 WHERE state = 'pending';

DROP INDEX escalated.outbox_pending;
CREATE INDEX outbox_due ON escalated.outbox (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX outbox_dead ON escalated.outbox (id) WHERE state = 'dead';

-- Digests ----------------------------------------------------------------------------------------

-- A supervisor group's daily digest time, in minutes after local midnight (the default
-- calendar's time zone); NULL for none.
ALTER TABLE escalated.supervisor_groups
    ADD COLUMN digest_minute int CHECK (digest_minute BETWEEN 0 AND 1439);

-- Every digest made, with the report it carries. The partial unique index makes the scheduled
-- digest of a group and local day happen once, across replicas and restarts; digests asked for
-- on demand (`escalated digest send`) are not limited.
CREATE TABLE escalated.digests (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    group_code  text NOT NULL,
    day         date NOT NULL,
    scheduled   boolean NOT NULL,
    report      jsonb NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE UNIQUE INDEX digests_daily_once ON escalated.digests (group_code, day) WHERE scheduled;
