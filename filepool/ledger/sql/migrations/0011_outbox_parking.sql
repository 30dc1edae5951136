-- One outbox row never holds up the others. A row a broker refuses on its own (too large, an unknown topic, an
-- unroutable routing key) waits `next_attempt_at` before its next try, and after `[filepool]` outbox_park_after
-- refusals it is parked (`parked_at`): never taken again until an operator sends it again from the File
-- transfers page, shown there with its error and counted by /metrics. A broker that is down refuses every row
-- alike: that counts an attempt but parks nothing.
ALTER TABLE filepool_outbox ADD COLUMN next_attempt_at timestamptz, ADD COLUMN parked_at timestamptz;
DROP INDEX filepool_outbox_unsent;
CREATE INDEX filepool_outbox_unsent ON filepool_outbox (channel, id) WHERE sent_at IS NULL AND parked_at IS NULL;
CREATE INDEX filepool_outbox_parked ON filepool_outbox (parked_at) WHERE parked_at IS NOT NULL AND sent_at IS NULL;
