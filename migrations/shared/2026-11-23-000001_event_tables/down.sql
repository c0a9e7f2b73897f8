DROP TABLE shared.inbox;
DROP TRIGGER outbox_notify ON shared.outbox;
DROP FUNCTION shared.outbox_notify();
DROP TABLE shared.outbox;
