-- Local projection of shared's access grants (from tekup.shared.v1.AccessGranted/Revoked),
-- read by this schema's Row Level Security policies.
CREATE TABLE crm.access_grants (
    org_id      uuid        NOT NULL,
    user_id     uuid        NOT NULL,
    cvr         text        NOT NULL,
    level       text        NOT NULL CHECK (level IN ('read', 'write', 'admin')),
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (user_id, cvr, org_id)
);
CREATE INDEX access_grants_org_cvr_idx ON crm.access_grants (org_id, cvr);

-- Row Level Security reads the tenant from transaction-local settings, set by
-- tekup_db::tenancy::enter at the start of every request's transaction:
--   app.org_id, app.user_id, app.role: the authenticated principal;
--   app.system = 'on': the service's own work (consumers, relay, login), not a user's.
-- Without them a query on a tenant table sees no rows and may write none.
CREATE FUNCTION crm.tenant_org() RETURNS uuid LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('app.org_id', true), '')::uuid $$;
CREATE FUNCTION crm.tenant_user() RETURNS uuid LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('app.user_id', true), '')::uuid $$;
CREATE FUNCTION crm.tenant_role() RETURNS text LANGUAGE sql STABLE
    AS $$ SELECT coalesce(current_setting('app.role', true), '') $$;
CREATE FUNCTION crm.tenant_system() RETURNS boolean LANGUAGE sql STABLE
    AS $$ SELECT coalesce(current_setting('app.system', true), '') = 'on' $$;

-- Whether the principal may act at `level` (read, write, admin) on company `cvr` of `org`:
-- org admins on every company of their org, others through their grants.
CREATE FUNCTION crm.can_access(p_org uuid, p_cvr text, p_level text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT crm.tenant_system()
        OR (p_org = crm.tenant_org()
            AND (crm.tenant_role() = 'admin'
                 OR EXISTS (SELECT 1 FROM crm.access_grants g
                            WHERE g.org_id = p_org AND g.cvr = p_cvr
                              AND g.user_id = crm.tenant_user()
                              AND CASE p_level
                                      WHEN 'read' THEN true
                                      WHEN 'write' THEN g.level IN ('write', 'admin')
                                      ELSE g.level = 'admin'
                                  END)))
$$;

ALTER TABLE crm.access_grants ENABLE ROW LEVEL SECURITY;
ALTER TABLE crm.access_grants FORCE ROW LEVEL SECURITY;
CREATE POLICY grants_visible ON crm.access_grants FOR SELECT
    USING (crm.tenant_system() OR (org_id = crm.tenant_org()
           AND (crm.tenant_role() = 'admin' OR user_id = crm.tenant_user())));
CREATE POLICY grants_projected ON crm.access_grants FOR ALL
    USING (crm.tenant_system()) WITH CHECK (crm.tenant_system());
