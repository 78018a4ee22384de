-- A dispatcher's claim on a row it is sending, committed BEFORE the SMTP send: a lease that
-- outlives the dispatcher's database connection. The row lock that marked the claim before died
-- with the connection, so a database blip right after SMTP acceptance let the row be claimed and
-- sent again. `claimed_by` is `<instance>/<uuid>`: the instance (host and port of the service) is
-- what a restarted process recognises as its own, and releases at start.
ALTER TABLE notifications
  ADD COLUMN claimed_by       text,
  ADD COLUMN claim_expires_at timestamptz;
