DROP TABLE crm.communications;
