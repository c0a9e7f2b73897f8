ALTER TABLE crm.companies DROP COLUMN registry_status, DROP COLUMN advertising_protected,
    DROP COLUMN registry_updated_at;
