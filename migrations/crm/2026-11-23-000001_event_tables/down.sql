DROP TABLE crm.inbox;
DROP TRIGGER outbox_notify ON crm.outbox;
DROP FUNCTION crm.outbox_notify();
DROP TABLE crm.outbox;
