DROP TABLE vault.inbox;
DROP TABLE vault.outbox;
