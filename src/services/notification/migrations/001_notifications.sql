-- The outbox. A notification commits here together with its Idempotency-Key (`chk_…:notify`);
-- the dispatcher sends it afterwards, so a request never waits on SMTP and a crash never loses it.
CREATE TABLE notifications (
  id               text        PRIMARY KEY,
  tenant           text        NOT NULL,
  idempotency_key  text        NOT NULL,
  -- Derived from (tenant, key): every send of this row carries the same Message-ID.
  message_id       text        NOT NULL UNIQUE,
  to_address       text        NOT NULL,
  template         text        NOT NULL,
  data             jsonb       NOT NULL,
  -- pending → sent, or pending → dead once the attempts are used up (the dead-letter state).
  status           text        NOT NULL CHECK (status IN ('pending', 'sent', 'dead')),
  attempts         integer     NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  last_error       text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  sent_at          timestamptz,
  UNIQUE (tenant, idempotency_key)
);

-- The dispatcher's query: due pending rows, oldest first.
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'pending';
