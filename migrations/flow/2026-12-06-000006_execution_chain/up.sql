-- How many executions lie before this one along flow's own events: an execution started by an
-- event that another execution emitted (a signal, a deal request, its end) is one further along
-- than that execution; a sub-workflow is as far along as its parent; a start by hand, by
-- schedule, by webhook or by another service's event is 0. Workflows that trigger one another in
-- a circle stop where the chain reaches its limit, instead of running without end.
ALTER TABLE flow.executions
    ADD COLUMN chain integer NOT NULL DEFAULT 0 CHECK (chain >= 0);
