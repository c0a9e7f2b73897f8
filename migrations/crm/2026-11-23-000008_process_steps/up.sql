-- Next-step recommendations per company: made by the recommender (with the rule and the
-- reason attached) or by a user. A step that was completed or skipped is never recommended
-- again: the recommender's steps are unique per (company, rule, source).

CREATE TABLE crm.process_steps (
    id                        uuid         PRIMARY KEY,
    org_id                    uuid         NOT NULL,
    cvr                       text         NOT NULL,
    recommendation_text       text         NOT NULL CHECK (length(btrim(recommendation_text)) BETWEEN 1 AND 1000),
    confidence_score          numeric(5,4) NOT NULL CHECK (confidence_score BETWEEN 0 AND 1),
    reason                    text         NOT NULL DEFAULT '',
    rule                      text,
    source_ref                text,
    based_on_conversation_id  uuid,
    based_on_thread_id        uuid,
    status                    text         NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'completed', 'skipped')),
    created_by                uuid,
    created_at                timestamptz  NOT NULL DEFAULT now(),
    updated_at                timestamptz  NOT NULL DEFAULT now(),
    FOREIGN KEY (org_id, cvr) REFERENCES crm.companies (org_id, cvr) ON DELETE CASCADE
);
CREATE UNIQUE INDEX process_steps_rule_source_key ON crm.process_steps (org_id, cvr, rule, source_ref)
    WHERE rule IS NOT NULL;
CREATE INDEX process_steps_company_idx ON crm.process_steps (org_id, cvr, status, confidence_score DESC);
CREATE INDEX process_steps_created_idx ON crm.process_steps (cvr, created_at);

ALTER TABLE crm.process_steps ENABLE ROW LEVEL SECURITY;
ALTER TABLE crm.process_steps FORCE ROW LEVEL SECURITY;
CREATE POLICY steps_read ON crm.process_steps FOR SELECT USING (crm.can_access(org_id, cvr, 'read'));
CREATE POLICY steps_insert ON crm.process_steps FOR INSERT WITH CHECK (crm.can_access(org_id, cvr, 'write'));
CREATE POLICY steps_update ON crm.process_steps FOR UPDATE
    USING (crm.can_access(org_id, cvr, 'write')) WITH CHECK (crm.can_access(org_id, cvr, 'write'));
CREATE POLICY steps_delete ON crm.process_steps FOR DELETE USING (crm.can_access(org_id, cvr, 'write'));
