ALTER TABLE flow.executions DROP COLUMN chain;
