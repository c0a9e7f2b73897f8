-- Reads every execution under a lock that lets writes go on (SHARE UPDATE EXCLUSIVE).
ALTER TABLE flow.executions VALIDATE CONSTRAINT executions_chain_check;
