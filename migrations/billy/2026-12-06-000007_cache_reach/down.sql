DROP POLICY cached_customers_read ON billy.cached_customers;
CREATE POLICY cached_customers_read ON billy.cached_customers FOR SELECT USING (
    (SELECT billy.tenant_system()) OR org_id = (SELECT billy.tenant_org()));

DROP POLICY cached_invoices_read ON billy.cached_invoices;
CREATE POLICY cached_invoices_read ON billy.cached_invoices FOR SELECT USING (
    (SELECT billy.tenant_system()) OR org_id = (SELECT billy.tenant_org()));
