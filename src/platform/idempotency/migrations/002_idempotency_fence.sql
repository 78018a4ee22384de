-- A third state: 'fenced', the tombstone a lookup leaves on a key that never ran (see
-- store.ts `fence`). A request arriving under a fenced key is refused, never executed, so a
-- caller that learned "it never happened" can rely on it staying so. No owner, no response;
-- `completed_at` is when the key was fenced.
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_state_check;
ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_state_check CHECK (state IN ('in_flight', 'done', 'fenced'));
