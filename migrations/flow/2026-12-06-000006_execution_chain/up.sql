-- How many executions lie before this one along flow's own events: an execution started by an
-- event that another execution emitted (a signal, a deal request, its end) is one further along
-- than that execution; a sub-workflow is as far along as its parent; a start by hand, by
-- schedule, by webhook or by another service's event is 0. Workflows that trigger one another in
-- a circle stop where the chain reaches its limit, instead of running without end.
--
-- The column with its constant default changes no row, and the check is not validated here:
-- the table stays locked only for the change of its definition. The next migration validates
-- it, in its own transaction, while writers go on.
SET LOCAL lock_timeout = '10s';
ALTER TABLE flow.executions ADD COLUMN chain integer NOT NULL DEFAULT 0;
ALTER TABLE flow.executions
    ADD CONSTRAINT executions_chain_check CHECK (chain >= 0) NOT VALID;
