DROP TABLE billy.inbox;
DROP TRIGGER outbox_notify ON billy.outbox;
DROP FUNCTION billy.outbox_notify();
DROP TABLE billy.outbox;
