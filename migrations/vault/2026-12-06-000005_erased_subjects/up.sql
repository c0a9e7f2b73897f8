-- People erased on a GDPR request, remembered by the SHA-256 of their lower-cased e-mail
-- address (not the address itself), so that an item about them still on its way (a
-- conversation or thread event published before the erasure, delivered after it) does not
-- bring their document back.
CREATE TABLE vault.erased_subjects (
    org_id        uuid        NOT NULL,
    email_sha256  text        NOT NULL CHECK (email_sha256 ~ '^[0-9a-f]{64}$'),
    erased_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, email_sha256)
);

ALTER TABLE vault.erased_subjects ENABLE ROW LEVEL SECURITY;
ALTER TABLE vault.erased_subjects FORCE ROW LEVEL SECURITY;
CREATE POLICY erased_subjects_org ON vault.erased_subjects FOR ALL
    USING ((SELECT vault.tenant_system()) OR org_id = (SELECT vault.tenant_org()))
    WITH CHECK ((SELECT vault.tenant_system()) OR org_id = (SELECT vault.tenant_org()));
