-- Stores a finished request's response under its claim, and raises (SQLSTATE IK001) when the
-- claim is no longer the caller's. store.ts sends it in the same round trip as the COMMIT of the
-- handler's transaction: the raise is what keeps that COMMIT from ever committing a handler's
-- effects without their stored response (the error aborts the transaction, and the COMMIT sent
-- after it is not run).
CREATE FUNCTION idempotency_complete(
  p_tenant text, p_key text, p_owner uuid, p_status integer, p_headers jsonb, p_body text
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  UPDATE idempotency_keys
     SET state = 'done', owner = NULL, lease_expires_at = NULL, completed_at = now(),
         response_status = p_status, response_headers = p_headers, response_body = p_body
   WHERE tenant = p_tenant AND key = p_key AND owner = p_owner;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'the idempotency claim on this key is no longer this request''s' USING ERRCODE = 'IK001';
  END IF;
END $$;
