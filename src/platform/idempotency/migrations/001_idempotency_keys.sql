-- One row per (tenant, Idempotency-Key). A row is either a live claim ('in_flight', held by
-- `owner` until `lease_expires_at`) or a finished request whose response is replayed ('done').
CREATE TABLE idempotency_keys (
  tenant            text        NOT NULL,
  key               text        NOT NULL,
  fingerprint       text        NOT NULL,
  state             text        NOT NULL CHECK (state IN ('in_flight', 'done')),
  owner             uuid,
  lease_expires_at  timestamptz,
  response_status   integer,
  response_headers  jsonb,
  response_body     text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  completed_at      timestamptz,
  PRIMARY KEY (tenant, key),
  CHECK ((state = 'in_flight') = (owner IS NOT NULL))
);

-- The retention purge scans by age.
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
