-- People erased on a GDPR request, remembered by the SHA-256 of their lower-cased e-mail
-- address (not the address itself), so that the next sync from Billy.dk does not cache them
-- again: Billy.dk keeps its contacts (the bookkeeping act), the platform's copy must not.
CREATE TABLE billy.erased_subjects (
    org_id        uuid        NOT NULL,
    email_sha256  text        NOT NULL CHECK (email_sha256 ~ '^[0-9a-f]{64}$'),
    erased_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, email_sha256)
);

ALTER TABLE billy.erased_subjects ENABLE ROW LEVEL SECURITY;
ALTER TABLE billy.erased_subjects FORCE ROW LEVEL SECURITY;
CREATE POLICY erased_subjects_org ON billy.erased_subjects FOR ALL
    USING ((SELECT billy.tenant_system()) OR org_id = (SELECT billy.tenant_org()))
    WITH CHECK ((SELECT billy.tenant_system()) OR org_id = (SELECT billy.tenant_org()));
