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
