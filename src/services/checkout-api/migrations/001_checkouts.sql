-- The API's own durable record of each checkout: which merchant and client key it came from
-- (as the derived id) and the request's fingerprint. Kept after the idempotency record is
-- purged and after Temporal's retention, so a very late retry of a key still finds its
-- checkout (or a 422) instead of starting anything new.
CREATE TABLE checkouts (
  id           text        PRIMARY KEY,
  merchant_id  text        NOT NULL,
  fingerprint  text        NOT NULL,
  customer_id  text        NOT NULL,
  amount       bigint      NOT NULL CHECK (amount > 0),
  currency     char(3)     NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  -- The final CheckoutState once seen, so reads survive Temporal's retention.
  final_state  jsonb
);

CREATE TABLE checkout_refunds (
  id           text        PRIMARY KEY,
  checkout_id  text        NOT NULL REFERENCES checkouts (id),
  amount       bigint      NOT NULL CHECK (amount > 0),
  created_at   timestamptz NOT NULL DEFAULT now()
);
