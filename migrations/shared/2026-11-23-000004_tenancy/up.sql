-- In shared the grants are the source table itself.
CREATE VIEW shared.access_grants AS
    SELECT org_id, user_id, cvr, access_level AS level FROM shared.user_companies;

-- Row Level Security reads the tenant from transaction-local settings, set by
-- tekup_db::tenancy::enter at the start of every request's transaction:
--   app.org_id, app.user_id, app.role: the authenticated principal;
--   app.system = 'on': the service's own work (consumers, relay, login), not a user's.
-- Without them a query on a tenant table sees no rows and may write none.
CREATE FUNCTION shared.tenant_org() RETURNS uuid LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('app.org_id', true), '')::uuid $$;
CREATE FUNCTION shared.tenant_user() RETURNS uuid LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('app.user_id', true), '')::uuid $$;
CREATE FUNCTION shared.tenant_role() RETURNS text LANGUAGE sql STABLE
    AS $$ SELECT coalesce(current_setting('app.role', true), '') $$;
CREATE FUNCTION shared.tenant_system() RETURNS boolean LANGUAGE sql STABLE
    AS $$ SELECT coalesce(current_setting('app.system', true), '') = 'on' $$;

-- Whether the principal may act at `level` (read, write, admin) on company `cvr` of `org`:
-- org admins on every company of their org, others through their grants.
CREATE FUNCTION shared.can_access(p_org uuid, p_cvr text, p_level text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT shared.tenant_system()
        OR (p_org = shared.tenant_org()
            AND (shared.tenant_role() = 'admin'
                 OR EXISTS (SELECT 1 FROM shared.access_grants g
                            WHERE g.org_id = p_org AND g.cvr = p_cvr
                              AND g.user_id = shared.tenant_user()
                              AND CASE p_level
                                      WHEN 'read' THEN true
                                      WHEN 'write' THEN g.level IN ('write', 'admin')
                                      ELSE g.level = 'admin'
                                  END)))
$$;

-- Organizations: a user sees their own; only the platform operator (system context) writes.
ALTER TABLE shared.organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE shared.organizations FORCE ROW LEVEL SECURITY;
CREATE POLICY own_organization ON shared.organizations FOR SELECT
    USING (shared.tenant_system() OR id = shared.tenant_org());
CREATE POLICY operator_writes ON shared.organizations FOR ALL
    USING (shared.tenant_system()) WITH CHECK (shared.tenant_system());

-- Users: everyone of the org sees the org's users; org admins manage them.
ALTER TABLE shared.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE shared.users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_visible ON shared.users FOR SELECT
    USING (shared.tenant_system() OR org_id = shared.tenant_org());
CREATE POLICY users_managed ON shared.users FOR ALL
    USING (shared.tenant_system() OR (org_id = shared.tenant_org() AND shared.tenant_role() = 'admin'))
    WITH CHECK (shared.tenant_system() OR (org_id = shared.tenant_org() AND shared.tenant_role() = 'admin'));

-- Companies: visible at read access; registered and changed by org admins.
ALTER TABLE shared.companies ENABLE ROW LEVEL SECURITY;
ALTER TABLE shared.companies FORCE ROW LEVEL SECURITY;
CREATE POLICY companies_visible ON shared.companies FOR SELECT
    USING (shared.can_access(org_id, cvr, 'read'));
CREATE POLICY companies_managed ON shared.companies FOR ALL
    USING (shared.tenant_system() OR (org_id = shared.tenant_org() AND shared.tenant_role() = 'admin'))
    WITH CHECK (shared.tenant_system() OR (org_id = shared.tenant_org() AND shared.tenant_role() = 'admin'));

-- Grants: a user sees their own, org admins all of the org's; org admins grant and revoke.
ALTER TABLE shared.user_companies ENABLE ROW LEVEL SECURITY;
ALTER TABLE shared.user_companies FORCE ROW LEVEL SECURITY;
CREATE POLICY grants_visible ON shared.user_companies FOR SELECT
    USING (shared.tenant_system() OR (org_id = shared.tenant_org()
           AND (shared.tenant_role() = 'admin' OR user_id = shared.tenant_user())));
CREATE POLICY grants_managed ON shared.user_companies FOR ALL
    USING (shared.tenant_system() OR (org_id = shared.tenant_org() AND shared.tenant_role() = 'admin'))
    WITH CHECK (shared.tenant_system() OR (org_id = shared.tenant_org() AND shared.tenant_role() = 'admin'));

-- Logs: org admins read their org's; only the service itself writes.
ALTER TABLE shared.audit_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE shared.audit_logs FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_visible ON shared.audit_logs FOR SELECT
    USING (shared.tenant_system() OR (org_id = shared.tenant_org() AND shared.tenant_role() = 'admin'));
CREATE POLICY audit_written ON shared.audit_logs FOR INSERT WITH CHECK (shared.tenant_system());
ALTER TABLE shared.system_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE shared.system_logs FORCE ROW LEVEL SECURITY;
CREATE POLICY system_visible ON shared.system_logs FOR SELECT
    USING (shared.tenant_system() OR (org_id = shared.tenant_org() AND shared.tenant_role() = 'admin'));
CREATE POLICY system_written ON shared.system_logs FOR INSERT WITH CHECK (shared.tenant_system());

-- Credentials and their bookkeeping: the service's own business only.
ALTER TABLE shared.refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE shared.refresh_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tokens_system ON shared.refresh_tokens FOR ALL
    USING (shared.tenant_system()) WITH CHECK (shared.tenant_system());
ALTER TABLE shared.login_failures ENABLE ROW LEVEL SECURITY;
ALTER TABLE shared.login_failures FORCE ROW LEVEL SECURITY;
CREATE POLICY failures_system ON shared.login_failures FOR ALL
    USING (shared.tenant_system()) WITH CHECK (shared.tenant_system());
