DROP TABLE crm.inbox;
DROP TABLE crm.outbox;
