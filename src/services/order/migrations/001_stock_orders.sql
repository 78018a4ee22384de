-- Stock per SKU, and orders that reserve it. Reservation is a conditional decrement
-- (`available >= qty`), so the CHECK below is never what stops an oversell, only a backstop.
CREATE TABLE stock (
  sku        text    PRIMARY KEY,
  available  integer NOT NULL CHECK (available >= 0)
);

-- Demo catalogue: plenty of SKU-1..SKU-5, a scarce SKU-LOW for contention tests, and
-- OUT-OF-STOCK, the test trigger (docs/api.md#test-triggers), with none at all.
INSERT INTO stock (sku, available) VALUES
  ('SKU-1', 1000000), ('SKU-2', 1000000), ('SKU-3', 1000000), ('SKU-4', 1000000), ('SKU-5', 1000000),
  ('SKU-LOW', 10),
  ('OUT-OF-STOCK', 0);

-- Each row records the tenant and the Idempotency-Key that created it (`chk_…:order`) for the audit;
-- UNIQUE (tenant, idempotency_key) keeps one order per key even if the idempotency layer were bypassed.
CREATE TABLE orders (
  id               text        PRIMARY KEY,
  tenant           text        NOT NULL,
  idempotency_key  text        NOT NULL,
  customer_id      text        NOT NULL,
  charge_id        text        NOT NULL,
  amount           bigint      NOT NULL CHECK (amount > 0),
  status           text        NOT NULL CHECK (status IN ('created', 'cancelled')),
  created_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant, idempotency_key)
);

CREATE TABLE order_items (
  order_id     text    NOT NULL REFERENCES orders (id),
  sku          text    NOT NULL REFERENCES stock (sku),
  quantity     integer NOT NULL CHECK (quantity > 0),
  unit_amount  bigint  NOT NULL CHECK (unit_amount > 0),
  PRIMARY KEY (order_id, sku)
);

-- A cancellation is its own effect row (`chk_…:order.cancel`); the primary key on order_id
-- means stock is released at most once per order, whatever the keys of the cancel requests.
CREATE TABLE order_cancellations (
  order_id         text        PRIMARY KEY REFERENCES orders (id),
  tenant           text        NOT NULL,
  idempotency_key  text        NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant, idempotency_key)
);
