DROP TABLE renos.inbox;
DROP TRIGGER outbox_notify ON renos.outbox;
DROP FUNCTION renos.outbox_notify();
DROP TABLE renos.outbox;
