-- Inbound webhooks: endpoints an organization gives to the outside world (the WotNot chatbot,
-- an e-mail forwarder, any Standard Webhooks sender), and every delivery they received, raw.

CREATE TABLE flow.webhooks (
    id          uuid        PRIMARY KEY,
    org_id      uuid        NOT NULL,
    name        text        NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    -- wotnot: WotNot's batched chatbot events, authenticated by the shared token;
    -- email: one forwarded RFC 5322 message, signed per Standard Webhooks;
    -- standard: any payload signed per Standard Webhooks.
    format      text        NOT NULL CHECK (format IN ('wotnot', 'email', 'standard')),
    -- whsec_<base64 of 32 random bytes>: the shared token (wotnot) or the signing key.
    secret      text        NOT NULL CHECK (secret LIKE 'whsec\_%'),
    active      boolean     NOT NULL DEFAULT true,
    created_by  uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id)
);

CREATE TABLE flow.webhook_deliveries (
    id            uuid        PRIMARY KEY,
    org_id        uuid        NOT NULL,
    webhook_id    uuid        NOT NULL,
    -- webhook-id of a signed delivery; the SHA-256 of the body for WotNot's batches.
    dedupe_key    text        NOT NULL,
    content_type  text        NOT NULL,
    body          bytea       NOT NULL,
    -- The request's headers but those carrying credentials.
    headers       jsonb       NOT NULL DEFAULT '{}',
    received_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (webhook_id, dedupe_key),
    FOREIGN KEY (org_id, webhook_id) REFERENCES flow.webhooks (org_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_recent_idx ON flow.webhook_deliveries (webhook_id, received_at DESC, id DESC);

-- Webhooks hold secrets: administrators of the organization only (and the service itself,
-- which looks an endpoint up before anyone is known).
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['webhooks', 'webhook_deliveries'] LOOP
        EXECUTE format('ALTER TABLE flow.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE flow.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON flow.%I FOR ALL USING (%3$s) WITH CHECK (%3$s)', t || '_admin', t,
            '(SELECT flow.tenant_system()) OR (org_id = (SELECT flow.tenant_org()) '
            'AND (SELECT flow.tenant_role()) = ''admin'')');
    END LOOP;
END $$;
