DROP TABLE billy.access_grants CASCADE;
DROP FUNCTION billy.can_access(uuid, text, text);
DROP FUNCTION billy.tenant_system();
DROP FUNCTION billy.tenant_role();
DROP FUNCTION billy.tenant_user();
DROP FUNCTION billy.tenant_org();
