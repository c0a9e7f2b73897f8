DROP TABLE flow.inbox;
DROP TRIGGER outbox_notify ON flow.outbox;
DROP FUNCTION flow.outbox_notify();
DROP TABLE flow.outbox;
