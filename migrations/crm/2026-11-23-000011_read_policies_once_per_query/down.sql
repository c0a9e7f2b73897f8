DO $$
DECLARE t record;
BEGIN
    FOR t IN SELECT * FROM (VALUES
        ('companies', 'companies_read', 'can_access'), ('contacts', 'contacts_read', 'can_access'),
        ('deals', 'deals_read', 'can_access'), ('activities', 'activities_read', 'can_access'),
        ('tasks', 'tasks_read', 'can_access'), ('process_steps', 'steps_read', 'can_access'),
        ('emails', 'emails_read', 'can_access'), ('similar_items', 'similar_items_read', 'can_access'),
        ('customers', 'customers_read', 'can_access_customer'),
        ('customer_interactions', 'interactions_read', 'can_access_customer'),
        ('behavior_patterns', 'patterns_read', 'can_access_customer')) AS p(tbl, policy, fn)
    LOOP
        EXECUTE format('DROP POLICY %I ON crm.%I', t.policy, t.tbl);
        EXECUTE format('CREATE POLICY %I ON crm.%I FOR SELECT USING (crm.%I(org_id, cvr, ''read''))',
                       t.policy, t.tbl, t.fn);
    END LOOP;
END $$;
