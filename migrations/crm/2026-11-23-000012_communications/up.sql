-- renos's chatbot conversations and e-mail threads of a company, kept from its events
-- (tekup.renos.v1.ConversationRecorded / EmailThreadUpdated, each carrying the whole item): the
-- company timeline shows them and expands them to their messages, and the recommender proposes
-- answering those where the customer spoke last. Items without a CVR are not a company's and
-- are not kept. updated_at is the source event's time, so a late, older event cannot win.
CREATE TABLE crm.communications (
    id              uuid        PRIMARY KEY,
    org_id          uuid        NOT NULL,
    cvr             text        NOT NULL,
    kind            text        NOT NULL CHECK (kind IN ('conversation', 'email_thread')),
    title           text        NOT NULL,
    channel         text        NOT NULL,
    customer_email  text,
    -- [{author, text, sent_at}], oldest first.
    messages        jsonb       NOT NULL DEFAULT '[]',
    message_count   integer     NOT NULL DEFAULT 0,
    first_at        timestamptz NOT NULL,
    last_at         timestamptz NOT NULL,
    -- The customer wrote last: an answer is due.
    awaiting_reply  boolean     NOT NULL DEFAULT false,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX communications_company_idx ON crm.communications (org_id, cvr, last_at DESC, id DESC);

ALTER TABLE crm.communications ENABLE ROW LEVEL SECURITY;
ALTER TABLE crm.communications FORCE ROW LEVEL SECURITY;
CREATE POLICY communications_read ON crm.communications FOR SELECT
    USING ((SELECT crm.tenant_system()) OR (org_id = (SELECT crm.tenant_org()) AND (
        (SELECT crm.tenant_role()) = 'admin' OR EXISTS (SELECT 1 FROM crm.access_grants g
        WHERE g.org_id = communications.org_id AND g.cvr = communications.cvr
          AND g.user_id = (SELECT crm.tenant_user())))));
-- Written only by the consumer of renos's events.
CREATE POLICY communications_projected ON crm.communications FOR ALL
    USING (crm.tenant_system()) WITH CHECK (crm.tenant_system());
