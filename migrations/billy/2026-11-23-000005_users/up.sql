-- The Billy.dk user accounts an organization's tokens belong to (Billy's `GET /user` when the
-- token is connected): whose access the integration acts with.
CREATE TABLE billy.users (
    org_id         uuid        NOT NULL,
    billy_user_id  text        NOT NULL,
    name           text        NOT NULL DEFAULT '',
    email          text,
    -- The platform user who connected a token of this account.
    connected_by   uuid,
    seen_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, billy_user_id)
);

ALTER TABLE billy.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE billy.users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_read ON billy.users FOR SELECT
    USING ((SELECT billy.tenant_system()) OR org_id = (SELECT billy.tenant_org()));
CREATE POLICY users_admin ON billy.users FOR ALL
    USING ((SELECT billy.tenant_system()) OR (org_id = (SELECT billy.tenant_org()) AND (SELECT billy.tenant_role()) = 'admin'))
    WITH CHECK ((SELECT billy.tenant_system()) OR (org_id = (SELECT billy.tenant_org()) AND (SELECT billy.tenant_role()) = 'admin'));
