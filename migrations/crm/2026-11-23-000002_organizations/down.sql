DROP TABLE crm.organizations;
