DROP TABLE crm.emails;
