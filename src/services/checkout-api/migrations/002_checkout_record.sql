-- The checkout record decides what happens to a key (docs/api.md#idempotency): written first,
-- with the accepted request the run is started with, before anything is started; a record whose
-- run was started never starts one again, whatever Temporal still remembers.
ALTER TABLE checkouts
  -- The accepted request, as the workflow is started with it (the fingerprint covers it).
  ADD COLUMN input         jsonb,
  -- Set once the start was confirmed by Temporal; from then on the key never starts a run again.
  ADD COLUMN started_at    timestamptz,
  ADD COLUMN run_id        text,
  -- When the outcome (final_state) was recorded, from the run's result.
  ADD COLUMN finished_at   timestamptz,
  -- When the outcome recorder next asks Temporal about a run nobody waited for.
  ADD COLUMN next_check_at timestamptz NOT NULL DEFAULT now();

-- Records made before this migration were committed only after their run had started.
UPDATE checkouts SET started_at = created_at WHERE input IS NULL;
UPDATE checkouts SET finished_at = created_at WHERE final_state IS NOT NULL;

CREATE INDEX checkouts_unfinished ON checkouts (next_check_at) WHERE final_state IS NULL AND started_at IS NOT NULL;
CREATE INDEX checkouts_finished ON checkouts (finished_at) WHERE final_state IS NOT NULL;

-- A merchant refund's record, likewise the decider for its key: what was asked (fingerprint), the
-- amount fixed when it was accepted ("the rest" is computed once), and its outcome once known.
ALTER TABLE checkout_refunds
  ADD COLUMN fingerprint   text,
  ADD COLUMN charge_id     text,
  ADD COLUMN started_at    timestamptz,
  ADD COLUMN result        jsonb,
  ADD COLUMN finished_at   timestamptz,
  ADD COLUMN next_check_at timestamptz NOT NULL DEFAULT now();

UPDATE checkout_refunds SET started_at = created_at WHERE fingerprint IS NULL;

CREATE INDEX checkout_refunds_unfinished ON checkout_refunds (next_check_at) WHERE result IS NULL AND started_at IS NOT NULL;
CREATE INDEX checkout_refunds_checkout ON checkout_refunds (checkout_id);
