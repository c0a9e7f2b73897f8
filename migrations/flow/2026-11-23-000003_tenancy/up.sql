-- Local projection of shared's access grants (from tekup.shared.v1.AccessGranted/Revoked),
-- read by this schema's Row Level Security policies.
CREATE TABLE flow.access_grants (
    org_id      uuid        NOT NULL,
    user_id     uuid        NOT NULL,
    cvr         text        NOT NULL,
    level       text        NOT NULL CHECK (level IN ('read', 'write', 'admin')),
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (user_id, cvr, org_id)
);
CREATE INDEX access_grants_org_cvr_idx ON flow.access_grants (org_id, cvr);

-- Row Level Security reads the tenant from transaction-local settings, set by
-- tekup_db::tenancy::enter at the start of every request's transaction:
--   app.org_id, app.user_id, app.role: the authenticated principal;
--   app.system = 'on': the service's own work (consumers, relay, login), not a user's.
-- Without them a query on a tenant table sees no rows and may write none.
CREATE FUNCTION flow.tenant_org() RETURNS uuid LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('app.org_id', true), '')::uuid $$;
CREATE FUNCTION flow.tenant_user() RETURNS uuid LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('app.user_id', true), '')::uuid $$;
CREATE FUNCTION flow.tenant_role() RETURNS text LANGUAGE sql STABLE
    AS $$ SELECT coalesce(current_setting('app.role', true), '') $$;
CREATE FUNCTION flow.tenant_system() RETURNS boolean LANGUAGE sql STABLE
    AS $$ SELECT coalesce(current_setting('app.system', true), '') = 'on' $$;

-- Whether the principal may act at `level` (read, write, admin) on company `cvr` of `org`:
-- org admins on every company of their org, others through their grants.
CREATE FUNCTION flow.can_access(p_org uuid, p_cvr text, p_level text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT flow.tenant_system()
        OR (p_org = flow.tenant_org()
            AND (flow.tenant_role() = 'admin'
                 OR EXISTS (SELECT 1 FROM flow.access_grants g
                            WHERE g.org_id = p_org AND g.cvr = p_cvr
                              AND g.user_id = flow.tenant_user()
                              AND CASE p_level
                                      WHEN 'read' THEN true
                                      WHEN 'write' THEN g.level IN ('write', 'admin')
                                      ELSE g.level = 'admin'
                                  END)))
$$;

ALTER TABLE flow.access_grants ENABLE ROW LEVEL SECURITY;
ALTER TABLE flow.access_grants FORCE ROW LEVEL SECURITY;
CREATE POLICY grants_visible ON flow.access_grants FOR SELECT
    USING (flow.tenant_system() OR (org_id = flow.tenant_org()
           AND (flow.tenant_role() = 'admin' OR user_id = flow.tenant_user())));
CREATE POLICY grants_projected ON flow.access_grants FOR ALL
    USING (flow.tenant_system()) WITH CHECK (flow.tenant_system());
