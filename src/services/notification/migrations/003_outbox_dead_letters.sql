-- The dead letters, counted at every /metrics scrape (outbox_dead_letter_messages): a partial
-- index keeps that count proportional to the dead rows, not to every message ever sent.
CREATE INDEX notifications_dead ON notifications (created_at) WHERE status = 'dead';
