-- The sales pipeline: stages configurable per organization (the defaults apply until an
-- administrator sets its own), deals per company with their value in øre, and deal products.

CREATE TABLE crm.pipeline_stages (
    org_id       uuid    NOT NULL,
    key          text    NOT NULL CHECK (key ~ '^[a-z][a-z0-9_]{0,39}$'),
    name         text    NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    position     integer NOT NULL CHECK (position >= 0),
    probability  integer NOT NULL CHECK (probability BETWEEN 0 AND 100),
    outcome      text    NOT NULL CHECK (outcome IN ('open', 'won', 'lost')),
    PRIMARY KEY (org_id, key)
);

CREATE TABLE crm.deals (
    id              uuid        PRIMARY KEY,
    org_id          uuid        NOT NULL,
    cvr             text        NOT NULL,
    title           text        NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 200),
    stage           text        NOT NULL,
    value_ore       bigint      NOT NULL DEFAULT 0 CHECK (value_ore >= 0),
    currency        text        NOT NULL DEFAULT 'DKK' CHECK (currency = 'DKK'),
    expected_close  date,
    owner_id        uuid,
    contact_id      uuid        REFERENCES crm.contacts (id) ON DELETE SET NULL,
    closed_at       timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (org_id, cvr) REFERENCES crm.companies (org_id, cvr) ON DELETE CASCADE
);
CREATE INDEX deals_org_cvr_idx ON crm.deals (org_id, cvr, created_at);
CREATE INDEX deals_org_stage_idx ON crm.deals (org_id, stage);
CREATE INDEX deals_contact_idx ON crm.deals (contact_id);
CREATE INDEX deals_owner_idx ON crm.deals (owner_id);

ALTER TABLE crm.pipeline_stages ENABLE ROW LEVEL SECURITY;
ALTER TABLE crm.pipeline_stages FORCE ROW LEVEL SECURITY;
CREATE POLICY stages_read ON crm.pipeline_stages FOR SELECT
    USING (crm.tenant_system() OR org_id = crm.tenant_org());
CREATE POLICY stages_managed ON crm.pipeline_stages FOR ALL
    USING (crm.tenant_system() OR (org_id = crm.tenant_org() AND crm.tenant_role() = 'admin'))
    WITH CHECK (crm.tenant_system() OR (org_id = crm.tenant_org() AND crm.tenant_role() = 'admin'));

ALTER TABLE crm.deals ENABLE ROW LEVEL SECURITY;
ALTER TABLE crm.deals FORCE ROW LEVEL SECURITY;
CREATE POLICY deals_read ON crm.deals FOR SELECT USING (crm.can_access(org_id, cvr, 'read'));
CREATE POLICY deals_insert ON crm.deals FOR INSERT WITH CHECK (crm.can_access(org_id, cvr, 'write'));
CREATE POLICY deals_update ON crm.deals FOR UPDATE
    USING (crm.can_access(org_id, cvr, 'write')) WITH CHECK (crm.can_access(org_id, cvr, 'write'));
CREATE POLICY deals_delete ON crm.deals FOR DELETE USING (crm.can_access(org_id, cvr, 'write'));
