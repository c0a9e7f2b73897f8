DROP INDEX crm.contacts_page_idx;
