DROP TABLE flow.inbox;
DROP TABLE flow.outbox;
