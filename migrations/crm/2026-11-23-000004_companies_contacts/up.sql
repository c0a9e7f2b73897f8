-- CRM records of customer companies (by CVR, one per organization) and their contacts.
-- Every row carries its organization and CVR; Row Level Security grants read and write by the
-- user's access to that company (crm.can_access over the projected grants).

CREATE TABLE crm.companies (
    id          uuid        PRIMARY KEY,
    org_id      uuid        NOT NULL,
    cvr         text        NOT NULL CHECK (cvr ~ '^[1-9][0-9]{7}$'),
    name        text        NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    segment     text        CHECK (segment IS NULL OR length(btrim(segment)) BETWEEN 1 AND 100),
    street      text,
    zipcode     text        CHECK (zipcode IS NULL OR zipcode ~ '^[0-9]{4}$'),
    city        text,
    created_by  uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, cvr)
);
CREATE INDEX companies_cvr_created_at_idx ON crm.companies (cvr, created_at);

CREATE TABLE crm.contacts (
    id          uuid        PRIMARY KEY,
    org_id      uuid        NOT NULL,
    cvr         text        NOT NULL,
    first_name  text        NOT NULL CHECK (length(btrim(first_name)) BETWEEN 1 AND 100),
    last_name   text        NOT NULL CHECK (length(btrim(last_name)) BETWEEN 1 AND 100),
    email       text        CHECK (email IS NULL OR email LIKE '%_@_%'),
    phone       text        CHECK (phone IS NULL OR phone ~ '^\+?[0-9 ]{8,20}$'),
    title       text,
    -- Names, e-mail and title as words (the simple configuration: no stemming of names).
    search      tsvector    GENERATED ALWAYS AS (to_tsvector('simple',
                    coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' ' ||
                    coalesce(email, '') || ' ' || coalesce(title, ''))) STORED,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (org_id, cvr) REFERENCES crm.companies (org_id, cvr) ON DELETE CASCADE
);
CREATE INDEX contacts_org_cvr_idx ON crm.contacts (org_id, cvr, created_at);
CREATE INDEX contacts_search_idx ON crm.contacts USING gin (search);

ALTER TABLE crm.companies ENABLE ROW LEVEL SECURITY;
ALTER TABLE crm.companies FORCE ROW LEVEL SECURITY;
CREATE POLICY companies_read ON crm.companies FOR SELECT
    USING (crm.can_access(org_id, cvr, 'read'));
CREATE POLICY companies_insert ON crm.companies FOR INSERT
    WITH CHECK (crm.can_access(org_id, cvr, 'write'));
CREATE POLICY companies_update ON crm.companies FOR UPDATE
    USING (crm.can_access(org_id, cvr, 'write')) WITH CHECK (crm.can_access(org_id, cvr, 'write'));
CREATE POLICY companies_delete ON crm.companies FOR DELETE
    USING (crm.can_access(org_id, cvr, 'write'));

ALTER TABLE crm.contacts ENABLE ROW LEVEL SECURITY;
ALTER TABLE crm.contacts FORCE ROW LEVEL SECURITY;
CREATE POLICY contacts_read ON crm.contacts FOR SELECT
    USING (crm.can_access(org_id, cvr, 'read'));
CREATE POLICY contacts_insert ON crm.contacts FOR INSERT
    WITH CHECK (crm.can_access(org_id, cvr, 'write'));
CREATE POLICY contacts_update ON crm.contacts FOR UPDATE
    USING (crm.can_access(org_id, cvr, 'write')) WITH CHECK (crm.can_access(org_id, cvr, 'write'));
CREATE POLICY contacts_delete ON crm.contacts FOR DELETE
    USING (crm.can_access(org_id, cvr, 'write'));
