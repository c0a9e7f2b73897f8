-- Earlier items of a company that vault found much like a newly indexed one
-- (tekup.vault.v1.SimilarItemsFound): "this customer raised something like this before",
-- one of the recommender's facts. Only ever within one company, so showing them to whoever may
-- read the company reveals nothing else.
CREATE TABLE crm.similar_items (
    org_id              uuid             NOT NULL,
    cvr                 text             NOT NULL,
    document_id         uuid             NOT NULL,
    kind                text             NOT NULL,
    name                text             NOT NULL,
    occurred_at         timestamptz      NOT NULL,
    similar_document_id uuid             NOT NULL,
    similar_kind        text             NOT NULL,
    similar_name        text             NOT NULL,
    similar_occurred_at timestamptz      NOT NULL,
    score               double precision NOT NULL CHECK (score BETWEEN -1 AND 1),
    received_at         timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, document_id, similar_document_id)
);
CREATE INDEX similar_items_company_idx ON crm.similar_items (org_id, cvr, occurred_at DESC);

ALTER TABLE crm.similar_items ENABLE ROW LEVEL SECURITY;
ALTER TABLE crm.similar_items FORCE ROW LEVEL SECURITY;
CREATE POLICY similar_items_read ON crm.similar_items FOR SELECT
    USING (crm.can_access(org_id, cvr, 'read'));
-- Written only by the consumer of vault's events.
CREATE POLICY similar_items_projected ON crm.similar_items FOR ALL
    USING (crm.tenant_system()) WITH CHECK (crm.tenant_system());
