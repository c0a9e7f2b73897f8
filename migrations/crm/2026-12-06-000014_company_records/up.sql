-- What the other services did for a company, kept from their events for its timeline: renos's
-- price calculations (tekup.renos.v1.PriceCalculated, with the inputs, every partial result and
-- the logic's version), quotes (QuoteChanged), bookings (BookingChanged), invoices
-- (InvoiceIssued, then InvoiceStatusChanged), and the documents uploaded to vault
-- (tekup.vault.v1.DocumentIndexed, removed on DocumentDeleted). Items without a CVR are not a
-- company's and are not kept.
--
-- title is what the timeline names the item by: a document's or invoice's name, the service
-- of a calculation, the visit's time (RFC 3339) of a booking. details holds the rest of the
-- event, for the item's own page. updated_at is the source event's time, so a late, older
-- event cannot win; it is also where the item sits on the timeline.
CREATE TABLE crm.company_records (
    id          uuid        PRIMARY KEY,
    org_id      uuid        NOT NULL,
    cvr         text        NOT NULL,
    kind        text        NOT NULL
                CHECK (kind IN ('document', 'price_calculation', 'quote', 'booking', 'invoice')),
    title       text        NOT NULL,
    status      text,
    amount_ore  bigint,
    details     jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'),
    updated_at  timestamptz NOT NULL
);
CREATE INDEX company_records_company_idx
    ON crm.company_records (org_id, cvr, updated_at DESC, id DESC);

ALTER TABLE crm.company_records ENABLE ROW LEVEL SECURITY;
ALTER TABLE crm.company_records FORCE ROW LEVEL SECURITY;
CREATE POLICY company_records_read ON crm.company_records FOR SELECT
    USING ((SELECT crm.tenant_system()) OR (org_id = (SELECT crm.tenant_org()) AND (
        (SELECT crm.tenant_role()) = 'admin' OR EXISTS (SELECT 1 FROM crm.access_grants g
        WHERE g.org_id = company_records.org_id AND g.cvr = company_records.cvr
          AND g.user_id = (SELECT crm.tenant_user())))));
-- Written only by the consumer of renos's and vault's events.
CREATE POLICY company_records_projected ON crm.company_records FOR ALL
    USING (crm.tenant_system()) WITH CHECK (crm.tenant_system());
