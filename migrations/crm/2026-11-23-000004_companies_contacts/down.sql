DROP TABLE crm.contacts;
DROP TABLE crm.companies;
