-- RenOS, from lead to invoice: leads, customers, the services catalogue, price calculations
-- (explainable and re-runnable), quotes, recurring cleaning plans and their bookings, executions
-- of the work, and invoices numbered without gaps. Money is in øre (integers), DKK; VAT (25 %) and
-- the labour share (for servicefradrag) are stored apart.
--
-- Every row carries its organization and, for business customers, the CVR. Row Level Security:
-- rows with a CVR follow the user's access to that company (as in shared); rows of private
-- customers (no CVR) are read by the whole organization and written by admins and analysts.

CREATE TABLE renos.customers (
    id          uuid        PRIMARY KEY,
    org_id      uuid        NOT NULL,
    cvr         text        CHECK (cvr ~ '^[1-9][0-9]{7}$'),
    kind        text        NOT NULL CHECK (kind IN ('private', 'business')),
    name        text        NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    email       text        CHECK (email IS NULL OR email LIKE '%_@_%'),
    phone       text        CHECK (phone IS NULL OR phone ~ '^\+?[0-9 ]{8,20}$'),
    street      text,
    zipcode     text        CHECK (zipcode IS NULL OR zipcode ~ '^[0-9]{4}$'),
    city        text,
    labels      text[]      NOT NULL DEFAULT '{}',
    created_by  uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'business') = (cvr IS NOT NULL)),
    UNIQUE (org_id, id)
);
CREATE UNIQUE INDEX customers_business_cvr_idx ON renos.customers (org_id, cvr) WHERE cvr IS NOT NULL;

CREATE TABLE renos.leads (
    id            uuid        PRIMARY KEY,
    org_id        uuid        NOT NULL,
    cvr           text        CHECK (cvr ~ '^[1-9][0-9]{7}$'),
    source        text        NOT NULL CHECK (source IN ('chatbot', 'email', 'web', 'phone', 'referral', 'other')),
    name          text        NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    email         text        CHECK (email IS NULL OR email LIKE '%_@_%'),
    phone         text        CHECK (phone IS NULL OR phone ~ '^\+?[0-9 ]{8,20}$'),
    message       text        NOT NULL DEFAULT '' CHECK (length(message) <= 10000),
    status        text        NOT NULL DEFAULT 'new'
                  CHECK (status IN ('new', 'contacted', 'qualified', 'quoted', 'won', 'lost')),
    score         integer     NOT NULL CHECK (score BETWEEN 0 AND 100),
    score_reasons jsonb       NOT NULL DEFAULT '[]',
    customer_id   uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (org_id, customer_id) REFERENCES renos.customers (org_id, id)
);
CREATE INDEX leads_org_created_idx ON renos.leads (org_id, created_at DESC);

CREATE TABLE renos.services (
    id             uuid        PRIMARY KEY,
    org_id         uuid        NOT NULL,
    code           text        NOT NULL CHECK (code ~ '^[a-z0-9_-]{1,40}$'),
    name           text        NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    pricing        text        NOT NULL CHECK (pricing IN ('per_m2', 'hourly', 'fixed')),
    -- per_m2: øre per m²; hourly: øre per cleaner-hour; fixed: øre per visit (all excl. VAT).
    unit_price_ore bigint      NOT NULL CHECK (unit_price_ore > 0),
    -- Extras that may be added: [{"code", "name", "price_ore"}].
    extras         jsonb       NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(extras) = 'array'),
    active         boolean     NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, code),
    UNIQUE (org_id, id)
);

-- A price calculation as the original design describes it: final price, the parameters used,
-- the data sources (documents, conversations), the partial result of every step, and the
-- version of the logic, so it can always be explained and re-run.
CREATE TABLE renos.price_calculations (
    id                     uuid        PRIMARY KEY,
    org_id                 uuid        NOT NULL,
    cvr                    text,
    customer_id            uuid,
    lead_id                uuid,
    service_id             uuid        NOT NULL,
    logic_version          text        NOT NULL,
    calculation_parameters jsonb       NOT NULL,
    data_sources           jsonb       NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(data_sources) = 'array'),
    partial_results        jsonb       NOT NULL CHECK (jsonb_typeof(partial_results) = 'array'),
    net_ore                bigint      NOT NULL CHECK (net_ore >= 0),
    vat_ore                bigint      NOT NULL CHECK (vat_ore >= 0),
    final_price            bigint      NOT NULL CHECK (final_price = net_ore + vat_ore),
    labour_ore             bigint      NOT NULL CHECK (labour_ore BETWEEN 0 AND net_ore),
    calculation_date       timestamptz NOT NULL DEFAULT now(),
    created_by             uuid,
    FOREIGN KEY (org_id, service_id) REFERENCES renos.services (org_id, id),
    FOREIGN KEY (org_id, customer_id) REFERENCES renos.customers (org_id, id),
    UNIQUE (org_id, id)
);

CREATE TABLE renos.quotes (
    id                 uuid        PRIMARY KEY,
    org_id             uuid        NOT NULL,
    cvr                text,
    customer_id        uuid        NOT NULL,
    price_calculation_id uuid      NOT NULL,
    lead_id            uuid,
    status             text        NOT NULL DEFAULT 'draft'
                       CHECK (status IN ('draft', 'sent', 'accepted', 'declined')),
    valid_until        date        NOT NULL,
    sent_at            timestamptz,
    decided_at         timestamptz,
    created_by         uuid,
    created_at         timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (org_id, customer_id) REFERENCES renos.customers (org_id, id),
    FOREIGN KEY (org_id, price_calculation_id) REFERENCES renos.price_calculations (org_id, id),
    UNIQUE (org_id, id)
);

CREATE TABLE renos.cleaning_plans (
    id                 uuid        PRIMARY KEY,
    org_id             uuid        NOT NULL,
    cvr                text,
    customer_id        uuid        NOT NULL,
    service_id         uuid        NOT NULL,
    quote_id           uuid,
    frequency          text        NOT NULL CHECK (frequency IN ('weekly', 'biweekly', 'monthly')),
    start_date         date        NOT NULL,
    until_date         date        NOT NULL CHECK (until_date >= start_date),
    -- Wall-clock time in Europe/Copenhagen: 09:00 stays 09:00 across summer time.
    local_time         time        NOT NULL,
    duration_minutes   integer     NOT NULL CHECK (duration_minutes BETWEEN 15 AND 1440),
    cleaner_id         uuid,
    price_per_visit_ore bigint     NOT NULL CHECK (price_per_visit_ore >= 0),
    labour_per_visit_ore bigint    NOT NULL CHECK (labour_per_visit_ore >= 0),
    active             boolean     NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (org_id, customer_id) REFERENCES renos.customers (org_id, id),
    FOREIGN KEY (org_id, service_id) REFERENCES renos.services (org_id, id),
    FOREIGN KEY (org_id, quote_id) REFERENCES renos.quotes (org_id, id),
    UNIQUE (org_id, id)
);

CREATE TABLE renos.invoices (
    id          uuid        PRIMARY KEY,
    org_id      uuid        NOT NULL,
    cvr         text,
    customer_id uuid        NOT NULL,
    -- Assigned when issued, from renos.invoice_counters: no gaps per organization.
    number      integer,
    status      text        NOT NULL DEFAULT 'draft'
                CHECK (status IN ('draft', 'issued', 'paid', 'cancelled')),
    net_ore     bigint      NOT NULL CHECK (net_ore >= 0),
    vat_ore     bigint      NOT NULL CHECK (vat_ore >= 0),
    total_ore   bigint      NOT NULL CHECK (total_ore = net_ore + vat_ore),
    labour_ore  bigint      NOT NULL CHECK (labour_ore BETWEEN 0 AND net_ore),
    issued_at   timestamptz,
    due_date    date,
    paid_at     timestamptz,
    -- Billy.dk's id once billy synced it.
    billy_id    text,
    synced_at   timestamptz,
    created_by  uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'draft') = (number IS NULL) OR status = 'cancelled'),
    UNIQUE (org_id, number),
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, customer_id) REFERENCES renos.customers (org_id, id)
);

CREATE TABLE renos.invoice_counters (
    org_id      uuid        PRIMARY KEY,
    last_number integer     NOT NULL CHECK (last_number >= 0)
);

CREATE TABLE renos.bookings (
    id               uuid        PRIMARY KEY,
    org_id           uuid        NOT NULL,
    cvr              text,
    customer_id      uuid        NOT NULL,
    service_id       uuid        NOT NULL,
    plan_id          uuid,
    starts_at        timestamptz NOT NULL,
    ends_at          timestamptz NOT NULL CHECK (ends_at > starts_at),
    cleaner_id       uuid,
    status           text        NOT NULL DEFAULT 'scheduled'
                     CHECK (status IN ('scheduled', 'completed', 'cancelled')),
    price_ore        bigint      NOT NULL CHECK (price_ore >= 0),
    labour_ore       bigint      NOT NULL CHECK (labour_ore BETWEEN 0 AND price_ore),
    invoice_id       uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (org_id, customer_id) REFERENCES renos.customers (org_id, id),
    FOREIGN KEY (org_id, service_id) REFERENCES renos.services (org_id, id),
    FOREIGN KEY (org_id, plan_id) REFERENCES renos.cleaning_plans (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, invoice_id) REFERENCES renos.invoices (org_id, id),
    UNIQUE (org_id, id),
    -- A cleaner is in one place at a time.
    CONSTRAINT bookings_cleaner_overlap EXCLUDE USING gist (
        org_id WITH =, cleaner_id WITH =, tstzrange(starts_at, ends_at) WITH &&
    ) WHERE (cleaner_id IS NOT NULL AND status <> 'cancelled')
);
CREATE INDEX bookings_customer_idx ON renos.bookings (org_id, customer_id, starts_at);
CREATE INDEX bookings_invoice_idx ON renos.bookings (invoice_id);

-- Which occurrence of a plan a booking is.
CREATE TABLE renos.cleaning_plan_bookings (
    plan_id         uuid    NOT NULL,
    booking_id      uuid    NOT NULL,
    org_id          uuid    NOT NULL,
    cvr             text,
    occurrence_date date    NOT NULL,
    PRIMARY KEY (plan_id, occurrence_date),
    UNIQUE (booking_id),
    FOREIGN KEY (org_id, plan_id) REFERENCES renos.cleaning_plans (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, booking_id) REFERENCES renos.bookings (org_id, id) ON DELETE CASCADE
);

CREATE TABLE renos.task_executions (
    id               uuid        PRIMARY KEY,
    org_id           uuid        NOT NULL,
    cvr              text,
    booking_id       uuid        NOT NULL,
    cleaner_id       uuid        NOT NULL,
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz NOT NULL CHECK (finished_at > started_at),
    duration_minutes integer     GENERATED ALWAYS AS
                     ((extract(epoch FROM finished_at - started_at) / 60)::integer) STORED,
    notes            text        NOT NULL DEFAULT '' CHECK (length(notes) <= 5000),
    created_at       timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (org_id, booking_id) REFERENCES renos.bookings (org_id, id) ON DELETE CASCADE
);

CREATE TABLE renos.invoice_line_items (
    id           uuid        PRIMARY KEY,
    org_id       uuid        NOT NULL,
    cvr          text,
    invoice_id   uuid        NOT NULL,
    booking_id   uuid,
    description  text        NOT NULL CHECK (length(btrim(description)) BETWEEN 1 AND 500),
    quantity     integer     NOT NULL CHECK (quantity > 0),
    unit_price_ore bigint    NOT NULL CHECK (unit_price_ore >= 0),
    net_ore      bigint      NOT NULL CHECK (net_ore = quantity * unit_price_ore),
    labour_ore   bigint      NOT NULL CHECK (labour_ore BETWEEN 0 AND net_ore),
    FOREIGN KEY (org_id, invoice_id) REFERENCES renos.invoices (org_id, id) ON DELETE CASCADE
);

-- Row Level Security, with the tenant's settings in sub-selects (evaluated once per query).
DO $$
DECLARE
    t text;
    grant_exists text := 'EXISTS (SELECT 1 FROM renos.access_grants g WHERE g.org_id = %1$I.org_id '
        'AND g.cvr = %1$I.cvr AND g.user_id = (SELECT renos.tenant_user()) AND g.level IN (%2$s))';
    reader text;
    writer text;
BEGIN
    FOREACH t IN ARRAY ARRAY['customers', 'leads', 'price_calculations', 'quotes', 'cleaning_plans',
        'invoices', 'bookings', 'cleaning_plan_bookings', 'task_executions', 'invoice_line_items']
    LOOP
        reader := format('(SELECT renos.tenant_system()) OR (org_id = (SELECT renos.tenant_org()) AND ('
            'cvr IS NULL OR (SELECT renos.tenant_role()) = ''admin'' OR ' || grant_exists || '))',
            t, '''read'', ''write'', ''admin''');
        writer := format('(SELECT renos.tenant_system()) OR (org_id = (SELECT renos.tenant_org()) AND ('
            '(SELECT renos.tenant_role()) = ''admin'' OR (cvr IS NULL AND (SELECT renos.tenant_role()) = ''analyst'') '
            'OR (cvr IS NOT NULL AND ' || grant_exists || ')))',
            t, '''write'', ''admin''');
        EXECUTE format('ALTER TABLE renos.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE renos.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON renos.%I FOR SELECT USING (%s)', t || '_read', t, reader);
        EXECUTE format('CREATE POLICY %I ON renos.%I FOR INSERT WITH CHECK (%s)', t || '_insert', t, writer);
        EXECUTE format('CREATE POLICY %I ON renos.%I FOR UPDATE USING (%s) WITH CHECK (%s)', t || '_update', t, writer, writer);
        EXECUTE format('CREATE POLICY %I ON renos.%I FOR DELETE USING (%s)', t || '_delete', t, writer);
    END LOOP;
END $$;

-- The services catalogue and the invoice counters belong to the organization.
ALTER TABLE renos.services ENABLE ROW LEVEL SECURITY;
ALTER TABLE renos.services FORCE ROW LEVEL SECURITY;
CREATE POLICY services_read ON renos.services FOR SELECT
    USING ((SELECT renos.tenant_system()) OR org_id = (SELECT renos.tenant_org()));
CREATE POLICY services_write ON renos.services FOR ALL
    USING ((SELECT renos.tenant_system()) OR (org_id = (SELECT renos.tenant_org()) AND (SELECT renos.tenant_role()) = 'admin'))
    WITH CHECK ((SELECT renos.tenant_system()) OR (org_id = (SELECT renos.tenant_org()) AND (SELECT renos.tenant_role()) = 'admin'));
ALTER TABLE renos.invoice_counters ENABLE ROW LEVEL SECURITY;
ALTER TABLE renos.invoice_counters FORCE ROW LEVEL SECURITY;
CREATE POLICY counters_org ON renos.invoice_counters FOR ALL
    USING ((SELECT renos.tenant_system()) OR org_id = (SELECT renos.tenant_org()))
    WITH CHECK ((SELECT renos.tenant_system()) OR org_id = (SELECT renos.tenant_org()));
