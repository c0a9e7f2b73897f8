-- E-mails logged against a company (sent or received by the sales team).
CREATE TABLE crm.emails (
    id          uuid        PRIMARY KEY,
    org_id      uuid        NOT NULL,
    cvr         text        NOT NULL,
    direction   text        NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    subject     text        NOT NULL CHECK (length(subject) <= 500),
    body        text        NOT NULL DEFAULT '' CHECK (length(body) <= 100000),
    from_address text       NOT NULL CHECK (from_address LIKE '%_@_%'),
    to_addresses text[]     NOT NULL CHECK (cardinality(to_addresses) >= 1),
    contact_id  uuid        REFERENCES crm.contacts (id) ON DELETE SET NULL,
    sent_at     timestamptz NOT NULL,
    logged_by   uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    search      tsvector GENERATED ALWAYS AS (
        to_tsvector('danish', subject || ' ' || body) || to_tsvector('english', subject || ' ' || body)
    ) STORED,
    FOREIGN KEY (org_id, cvr) REFERENCES crm.companies (org_id, cvr) ON DELETE CASCADE
);
CREATE INDEX emails_org_cvr_time_idx ON crm.emails (org_id, cvr, sent_at DESC);
CREATE INDEX emails_contact_idx ON crm.emails (contact_id);
CREATE INDEX emails_search_idx ON crm.emails USING gin (search);

ALTER TABLE crm.emails ENABLE ROW LEVEL SECURITY;
ALTER TABLE crm.emails FORCE ROW LEVEL SECURITY;
CREATE POLICY emails_read ON crm.emails FOR SELECT USING (crm.can_access(org_id, cvr, 'read'));
CREATE POLICY emails_insert ON crm.emails FOR INSERT WITH CHECK (crm.can_access(org_id, cvr, 'write'));
CREATE POLICY emails_update ON crm.emails FOR UPDATE
    USING (crm.can_access(org_id, cvr, 'write')) WITH CHECK (crm.can_access(org_id, cvr, 'write'));
CREATE POLICY emails_delete ON crm.emails FOR DELETE USING (crm.can_access(org_id, cvr, 'write'));
