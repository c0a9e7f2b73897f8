DROP TABLE shared.inbox;
DROP TABLE shared.outbox;
