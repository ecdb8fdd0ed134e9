-- escalated: retention. Forward-only; applied in one transaction after 008.

-- Maintenance deletes sent deliveries once they are older than the retention age, oldest first,
-- a small batch at a time. This partial index holds exactly the sent rows by the time they were
-- sent, so each batch reads only what it deletes, however large the outbox. It takes one entry
-- per message, when its outcome `sent` is recorded (the update that records it already writes
-- every other index of the outbox: a state change is never a HOT update).
-- Building it holds off writes to the outbox for as long as it takes (seconds for millions of rows).
CREATE INDEX outbox_sent ON escalated.outbox (sent_at) WHERE state = 'sent';
