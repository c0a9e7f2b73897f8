-- The Billy.dk integration: each organization's connection (its Billy organization and API
-- token, encrypted with AES-256-GCM under a key from configuration, whose id is kept for
-- rotation), caches of Billy's invoices, contacts and products kept by polling (Billy.dk has
-- no webhooks), the queue of platform invoices to put into Billy, and governance: an audit log
-- of every call (no secrets), usage per day, and a token bucket per organization shared by
-- every instance.

ALTER TABLE billy.organizations
    ADD COLUMN billy_organization_id text,
    ADD COLUMN billy_organization_name text,
    ADD COLUMN token_ciphertext bytea,
    ADD COLUMN token_nonce bytea,
    ADD COLUMN token_key_id text,
    ADD COLUMN product_id text,
    ADD COLUMN connected_by uuid,
    ADD COLUMN connected_at timestamptz,
    -- Invoices are fetched from this entry date on (minus an overlap) at the next poll.
    ADD COLUMN invoice_watermark date,
    ADD COLUMN last_synced_at timestamptz,
    ADD COLUMN last_sync_error text,
    ADD CHECK ((token_ciphertext IS NULL) = (token_key_id IS NULL)),
    ADD CHECK ((token_ciphertext IS NULL) = (token_nonce IS NULL));

-- The connection holds a secret: an organization sees only its own row, and only its
-- administrators change it; the service itself keeps the projection and polls.
ALTER TABLE billy.organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE billy.organizations FORCE ROW LEVEL SECURITY;
CREATE POLICY organizations_own ON billy.organizations FOR SELECT
    USING ((SELECT billy.tenant_system()) OR id = (SELECT billy.tenant_org()));
CREATE POLICY organizations_admin ON billy.organizations FOR UPDATE
    USING ((SELECT billy.tenant_system()) OR (id = (SELECT billy.tenant_org()) AND (SELECT billy.tenant_role()) = 'admin'))
    WITH CHECK ((SELECT billy.tenant_system()) OR (id = (SELECT billy.tenant_org()) AND (SELECT billy.tenant_role()) = 'admin'));
CREATE POLICY organizations_projected ON billy.organizations FOR INSERT
    WITH CHECK ((SELECT billy.tenant_system()) OR (id = (SELECT billy.tenant_org()) AND (SELECT billy.tenant_role()) = 'admin'));
CREATE POLICY organizations_removed ON billy.organizations FOR DELETE
    USING ((SELECT billy.tenant_system()));

CREATE TABLE billy.cached_invoices (
    org_id        uuid          NOT NULL,
    billy_id      text          NOT NULL,
    invoice_no    text,
    contact_id    text,
    entry_date    date,
    due_date      date,
    state         text          NOT NULL,
    is_paid       boolean       NOT NULL DEFAULT false,
    gross_ore     bigint        NOT NULL DEFAULT 0,
    currency      text,
    external_id   text,
    -- SHA-256 of the record as Billy.dk returned it: unchanged records are not announced again.
    content_hash  text          NOT NULL,
    data          jsonb         NOT NULL,
    synced_at     timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, billy_id)
);
CREATE INDEX cached_invoices_entry_idx ON billy.cached_invoices (org_id, entry_date DESC, billy_id);

CREATE TABLE billy.cached_customers (
    org_id        uuid          NOT NULL,
    billy_id      text          NOT NULL,
    name          text          NOT NULL,
    cvr           text,
    email         text,
    content_hash  text          NOT NULL,
    data          jsonb         NOT NULL,
    synced_at     timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, billy_id)
);
CREATE INDEX cached_customers_cvr_idx ON billy.cached_customers (org_id, cvr);

CREATE TABLE billy.cached_products (
    org_id        uuid          NOT NULL,
    billy_id      text          NOT NULL,
    name          text          NOT NULL,
    unit_price_ore bigint,
    content_hash  text          NOT NULL,
    data          jsonb         NOT NULL,
    synced_at     timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, billy_id)
);

-- Platform invoices to put into Billy.dk (from renos's InvoiceIssued), worked off by a
-- background task that claims them with SKIP LOCKED; a retry looks the invoice up by its
-- externalId (our invoice id) before creating it, so it is never created twice.
CREATE TABLE billy.invoice_pushes (
    invoice_id        uuid        PRIMARY KEY,
    org_id            uuid        NOT NULL,
    -- The issued invoice as renos announced it.
    invoice           jsonb       NOT NULL,
    status            text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'synced', 'failed')),
    attempts          integer     NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    billy_invoice_id  text,
    last_error        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invoice_pushes_due_idx ON billy.invoice_pushes (next_attempt_at) WHERE status = 'pending';

CREATE TABLE billy.audit_logs (
    id           uuid        PRIMARY KEY,
    org_id       uuid        NOT NULL,
    -- e.g. list invoices, create invoice, get organization.
    operation    text        NOT NULL,
    method       text        NOT NULL,
    -- The path without query string: no token or personal data.
    path         text        NOT NULL,
    -- HTTP status, or 0 when no answer came (timeout, connection refused).
    status       integer     NOT NULL,
    duration_ms  integer     NOT NULL,
    attempt      integer     NOT NULL,
    error_code   text,
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_logs_recent_idx ON billy.audit_logs (org_id, at DESC, id DESC);

CREATE TABLE billy.usage_metrics (
    org_id        uuid    NOT NULL,
    day           date    NOT NULL,
    calls         integer NOT NULL DEFAULT 0,
    errors        integer NOT NULL DEFAULT 0,
    rate_limited  integer NOT NULL DEFAULT 0,
    total_ms      bigint  NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, day)
);

-- A token bucket per organization, in the database so every instance draws from the same one.
CREATE TABLE billy.rate_limits (
    org_id          uuid             PRIMARY KEY,
    tokens          double precision NOT NULL,
    capacity        double precision NOT NULL CHECK (capacity > 0),
    refill_per_sec  double precision NOT NULL CHECK (refill_per_sec > 0),
    updated_at      timestamptz      NOT NULL DEFAULT now(),
    -- After a 429 from Billy.dk nobody calls before this.
    blocked_until   timestamptz      NOT NULL DEFAULT '-infinity'
);

-- Caches and usage are read by the organization's members; the push queue, audit log and
-- buckets by its administrators; the service itself writes them all.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['cached_invoices', 'cached_customers', 'cached_products', 'usage_metrics'] LOOP
        EXECUTE format('ALTER TABLE billy.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE billy.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON billy.%I FOR SELECT USING ((SELECT billy.tenant_system()) '
            'OR org_id = (SELECT billy.tenant_org()))', t || '_read', t);
        EXECUTE format('CREATE POLICY %I ON billy.%I FOR ALL USING ((SELECT billy.tenant_system())) '
            'WITH CHECK ((SELECT billy.tenant_system()))', t || '_service', t);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['invoice_pushes', 'audit_logs', 'rate_limits'] LOOP
        EXECUTE format('ALTER TABLE billy.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE billy.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON billy.%I FOR SELECT USING ((SELECT billy.tenant_system()) '
            'OR (org_id = (SELECT billy.tenant_org()) AND (SELECT billy.tenant_role()) = ''admin''))', t || '_read', t);
        EXECUTE format('CREATE POLICY %I ON billy.%I FOR ALL USING ((SELECT billy.tenant_system())) '
            'WITH CHECK ((SELECT billy.tenant_system()))', t || '_service', t);
    END LOOP;
END $$;
