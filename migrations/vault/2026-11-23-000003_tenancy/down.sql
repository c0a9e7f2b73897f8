DROP TABLE vault.access_grants CASCADE;
DROP FUNCTION vault.can_access(uuid, text, text);
DROP FUNCTION vault.tenant_system();
DROP FUNCTION vault.tenant_role();
DROP FUNCTION vault.tenant_user();
DROP FUNCTION vault.tenant_org();
