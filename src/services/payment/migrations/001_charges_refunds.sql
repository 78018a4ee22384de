-- Charges and refunds. Each row records the tenant and the Idempotency-Key that created it:
-- the audit joins effects to checkouts by key (`chk_…:charge`, `chk_…:charge.refund`, `rfd_…:refund`),
-- and UNIQUE (tenant, idempotency_key) is a last line of defence: one effect per key even if
-- the idempotency layer were bypassed.
CREATE TABLE charges (
  id               text        PRIMARY KEY,
  tenant           text        NOT NULL,
  idempotency_key  text        NOT NULL,
  customer_id      text        NOT NULL,
  amount           bigint      NOT NULL CHECK (amount > 0),
  currency         text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  card_brand       text        NOT NULL,
  status           text        NOT NULL CHECK (status IN ('captured')),
  -- Maintained under the charge's row lock; the CHECK makes an over-refund impossible even
  -- for a writer that forgot the lock.
  amount_refunded  bigint      NOT NULL DEFAULT 0 CHECK (amount_refunded BETWEEN 0 AND amount),
  created_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant, idempotency_key)
);

CREATE TABLE refunds (
  id               text        PRIMARY KEY,
  tenant           text        NOT NULL,
  idempotency_key  text        NOT NULL,
  charge_id        text        NOT NULL REFERENCES charges (id),
  amount           bigint      NOT NULL CHECK (amount > 0),
  created_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant, idempotency_key)
);

CREATE INDEX refunds_charge_id ON refunds (charge_id);
