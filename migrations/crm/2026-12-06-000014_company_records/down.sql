DROP TABLE crm.company_records;
