-- What happened with a company (calls, meetings, notes, e-mails) and what is to be done.

CREATE TABLE crm.activities (
    id           uuid        PRIMARY KEY,
    org_id       uuid        NOT NULL,
    cvr          text        NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('call', 'meeting', 'note', 'email')),
    subject      text        NOT NULL CHECK (length(btrim(subject)) BETWEEN 1 AND 200),
    body         text        NOT NULL DEFAULT '' CHECK (length(body) <= 20000),
    contact_id   uuid        REFERENCES crm.contacts (id) ON DELETE SET NULL,
    deal_id      uuid        REFERENCES crm.deals (id) ON DELETE SET NULL,
    occurred_at  timestamptz NOT NULL,
    created_by   uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (org_id, cvr) REFERENCES crm.companies (org_id, cvr) ON DELETE CASCADE
);
CREATE INDEX activities_org_cvr_time_idx ON crm.activities (org_id, cvr, occurred_at DESC);
CREATE INDEX activities_contact_idx ON crm.activities (contact_id);
CREATE INDEX activities_deal_idx ON crm.activities (deal_id);

CREATE TABLE crm.tasks (
    id            uuid        PRIMARY KEY,
    org_id        uuid        NOT NULL,
    cvr           text        NOT NULL,
    title         text        NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 200),
    due_date      date,
    assignee_id   uuid,
    status        text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'cancelled')),
    deal_id       uuid        REFERENCES crm.deals (id) ON DELETE SET NULL,
    created_by    uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz,
    CHECK ((status = 'open') = (completed_at IS NULL)),
    FOREIGN KEY (org_id, cvr) REFERENCES crm.companies (org_id, cvr) ON DELETE CASCADE
);
CREATE INDEX tasks_org_cvr_idx ON crm.tasks (org_id, cvr, due_date);
CREATE INDEX tasks_assignee_idx ON crm.tasks (assignee_id, status);
CREATE INDEX tasks_deal_idx ON crm.tasks (deal_id);

ALTER TABLE crm.activities ENABLE ROW LEVEL SECURITY;
ALTER TABLE crm.activities FORCE ROW LEVEL SECURITY;
CREATE POLICY activities_read ON crm.activities FOR SELECT USING (crm.can_access(org_id, cvr, 'read'));
CREATE POLICY activities_insert ON crm.activities FOR INSERT WITH CHECK (crm.can_access(org_id, cvr, 'write'));
CREATE POLICY activities_update ON crm.activities FOR UPDATE
    USING (crm.can_access(org_id, cvr, 'write')) WITH CHECK (crm.can_access(org_id, cvr, 'write'));
CREATE POLICY activities_delete ON crm.activities FOR DELETE USING (crm.can_access(org_id, cvr, 'write'));

ALTER TABLE crm.tasks ENABLE ROW LEVEL SECURITY;
ALTER TABLE crm.tasks FORCE ROW LEVEL SECURITY;
CREATE POLICY tasks_read ON crm.tasks FOR SELECT USING (crm.can_access(org_id, cvr, 'read'));
CREATE POLICY tasks_insert ON crm.tasks FOR INSERT WITH CHECK (crm.can_access(org_id, cvr, 'write'));
CREATE POLICY tasks_update ON crm.tasks FOR UPDATE
    USING (crm.can_access(org_id, cvr, 'write')) WITH CHECK (crm.can_access(org_id, cvr, 'write'));
CREATE POLICY tasks_delete ON crm.tasks FOR DELETE USING (crm.can_access(org_id, cvr, 'write'));
