DROP TABLE billy.rate_limits;
DROP TABLE billy.usage_metrics;
DROP TABLE billy.audit_logs;
DROP TABLE billy.invoice_pushes;
DROP TABLE billy.cached_products;
DROP TABLE billy.cached_customers;
DROP TABLE billy.cached_invoices;
DROP POLICY organizations_removed ON billy.organizations;
DROP POLICY organizations_projected ON billy.organizations;
DROP POLICY organizations_admin ON billy.organizations;
DROP POLICY organizations_own ON billy.organizations;
ALTER TABLE billy.organizations NO FORCE ROW LEVEL SECURITY;
ALTER TABLE billy.organizations DISABLE ROW LEVEL SECURITY;
ALTER TABLE billy.organizations DROP COLUMN billy_organization_id, DROP COLUMN billy_organization_name,
    DROP COLUMN token_ciphertext, DROP COLUMN token_nonce, DROP COLUMN token_key_id,
    DROP COLUMN product_id, DROP COLUMN connected_by, DROP COLUMN connected_at,
    DROP COLUMN invoice_watermark, DROP COLUMN last_synced_at, DROP COLUMN last_sync_error;
