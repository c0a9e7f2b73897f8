DROP TABLE flow.access_grants CASCADE;
DROP FUNCTION flow.can_access(uuid, text, text);
DROP FUNCTION flow.tenant_system();
DROP FUNCTION flow.tenant_role();
DROP FUNCTION flow.tenant_user();
DROP FUNCTION flow.tenant_org();
