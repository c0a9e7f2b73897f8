-- Billy.dk's contacts and invoices are about the organization's customers, so they follow the
-- company grants like every other company's data, not the organization alone:
--   a contact with a CVR is read where that company may be read (can_access: admins on every
--   company, others through their grants); one without (a private customer) by the whole
--   organization, as renos's private customers are;
--   an invoice is read where its contact is, and by administrators when its contact is not
--   cached.
DROP POLICY cached_customers_read ON billy.cached_customers;
CREATE POLICY cached_customers_read ON billy.cached_customers FOR SELECT USING (
    (SELECT billy.tenant_system())
    OR (org_id = (SELECT billy.tenant_org())
        AND (cvr IS NULL OR billy.can_access(org_id, cvr, 'read'))));

DROP POLICY cached_invoices_read ON billy.cached_invoices;
CREATE POLICY cached_invoices_read ON billy.cached_invoices FOR SELECT USING (
    (SELECT billy.tenant_system())
    OR (org_id = (SELECT billy.tenant_org())
        AND ((SELECT billy.tenant_role()) = 'admin'
             OR EXISTS (SELECT 1 FROM billy.cached_customers c
                         WHERE c.org_id = cached_invoices.org_id
                           AND c.billy_id = cached_invoices.contact_id))));
