DROP TABLE renos.inbox;
DROP TABLE renos.outbox;
