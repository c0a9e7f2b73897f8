DROP TABLE crm.access_grants CASCADE;
DROP FUNCTION crm.can_access(uuid, text, text);
DROP FUNCTION crm.tenant_system();
DROP FUNCTION crm.tenant_role();
DROP FUNCTION crm.tenant_user();
DROP FUNCTION crm.tenant_org();
