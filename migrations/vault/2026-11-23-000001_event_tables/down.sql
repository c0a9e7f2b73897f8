DROP TABLE vault.inbox;
DROP TRIGGER outbox_notify ON vault.outbox;
DROP FUNCTION vault.outbox_notify();
DROP TABLE vault.outbox;
