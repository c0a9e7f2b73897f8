DROP TABLE billy.inbox;
DROP TABLE billy.outbox;
