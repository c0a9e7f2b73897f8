DROP TABLE renos.access_grants CASCADE;
DROP FUNCTION renos.can_access(uuid, text, text);
DROP FUNCTION renos.tenant_system();
DROP FUNCTION renos.tenant_role();
DROP FUNCTION renos.tenant_user();
DROP FUNCTION renos.tenant_org();
