-- Workflows and their durable executions, schedules, integrations with outgoing webhook
-- deliveries, variables (secret ones sealed), per-workflow metrics, and GDPR data-subject
-- requests with each service's answer.

-- A workflow is a versioned definition (JSON, validated by flow before it is stored); saving a
-- workflow under an existing name adds a version and makes it the active one.
CREATE TABLE flow.workflows (
    id            uuid        PRIMARY KEY,
    org_id        uuid        NOT NULL,
    name          text        NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,99}$'),
    version       integer     NOT NULL CHECK (version >= 1),
    description   text        NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
    definition    jsonb       NOT NULL CHECK (jsonb_typeof(definition) = 'object'),
    -- event: an event type (trigger_key = its full name); webhook: an inbound webhook
    -- (trigger_key = its id); schedule: run by schedules; manual: run by a user.
    trigger_kind  text        NOT NULL CHECK (trigger_kind IN ('event', 'webhook', 'schedule', 'manual')),
    trigger_key   text,
    active        boolean     NOT NULL DEFAULT true,
    created_by    uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name, version),
    UNIQUE (org_id, id),
    CHECK ((trigger_kind IN ('event', 'webhook')) = (trigger_key IS NOT NULL))
);
CREATE UNIQUE INDEX workflows_active_idx ON flow.workflows (org_id, name) WHERE active;
CREATE INDEX workflows_trigger_idx ON flow.workflows (org_id, trigger_kind, trigger_key) WHERE active;

-- One run of one version of a workflow. Durable: the engine claims due executions with
-- FOR UPDATE SKIP LOCKED and a lease, so any instance resumes one whose instance died.
CREATE TABLE flow.executions (
    id            uuid        PRIMARY KEY,
    org_id        uuid        NOT NULL,
    workflow_id   uuid        NOT NULL,
    status        text        NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'running', 'waiting', 'succeeded', 'failed', 'cancelled')),
    -- What started it: {kind: event|webhook|schedule|manual|rerun|workflow, ...}.
    trigger       jsonb       NOT NULL,
    -- Makes a trigger start one execution only (an event's id, a schedule's occurrence).
    dedupe_key    text,
    input         jsonb       NOT NULL DEFAULT '{}',
    -- Step outputs so far: {"<step id>": output}.
    outputs       jsonb       NOT NULL DEFAULT '{}',
    step_index    integer     NOT NULL DEFAULT 0 CHECK (step_index >= 0),
    -- Attempts of the current step so far.
    attempt       integer     NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    wake_at       timestamptz NOT NULL DEFAULT now(),
    -- What a waiting execution waits for: {event, match, step} or {child}.
    waiting       jsonb,
    lease_owner   uuid,
    lease_until   timestamptz,
    parent_id     uuid        REFERENCES flow.executions (id) ON DELETE SET NULL,
    rerun_of      uuid        REFERENCES flow.executions (id) ON DELETE SET NULL,
    error         text,
    created_by    uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz,
    UNIQUE (workflow_id, dedupe_key),
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, workflow_id) REFERENCES flow.workflows (org_id, id) ON DELETE CASCADE
);
CREATE INDEX executions_due_idx ON flow.executions (wake_at) WHERE status IN ('pending', 'running', 'waiting');
CREATE INDEX executions_list_idx ON flow.executions (org_id, created_at DESC, id DESC);
CREATE INDEX executions_waiting_idx ON flow.executions (org_id, (waiting ->> 'event')) WHERE status = 'waiting';

-- Every attempt of every step: the step as defined (templates unrendered, so no secret value
-- is ever stored), its output or error, and the idempotency key its side effect carries.
CREATE TABLE flow.execution_steps (
    id               uuid        PRIMARY KEY,
    org_id           uuid        NOT NULL,
    execution_id     uuid        NOT NULL,
    step_id          text        NOT NULL,
    kind             text        NOT NULL,
    attempt          integer     NOT NULL CHECK (attempt >= 1),
    status           text        NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'retrying')),
    idempotency_key  text        NOT NULL,
    input            jsonb       NOT NULL,
    output           jsonb,
    error            text,
    started_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    UNIQUE (execution_id, step_id, attempt),
    FOREIGN KEY (org_id, execution_id) REFERENCES flow.executions (org_id, id) ON DELETE CASCADE
);

CREATE TABLE flow.execution_logs (
    id            uuid        PRIMARY KEY,
    org_id        uuid        NOT NULL,
    execution_id  uuid        NOT NULL,
    step_id       text,
    level         text        NOT NULL CHECK (level IN ('info', 'warn', 'error')),
    message       text        NOT NULL,
    data          jsonb       NOT NULL DEFAULT '{}',
    logged_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    FOREIGN KEY (org_id, execution_id) REFERENCES flow.executions (org_id, id) ON DELETE CASCADE
);
CREATE INDEX execution_logs_execution_idx ON flow.execution_logs (execution_id, logged_at, id);

-- Cron schedules in Copenhagen time (DST-correct), optionally skipping Danish public holidays;
-- `missed` says what to do with occurrences that passed while flow was down.
CREATE TABLE flow.schedules (
    id             uuid        PRIMARY KEY,
    org_id         uuid        NOT NULL,
    workflow_name  text        NOT NULL,
    cron           text        NOT NULL,
    timezone       text        NOT NULL DEFAULT 'Europe/Copenhagen' CHECK (timezone = 'Europe/Copenhagen'),
    skip_holidays  boolean     NOT NULL DEFAULT false,
    missed         text        NOT NULL DEFAULT 'run_once' CHECK (missed IN ('skip', 'run_once', 'run_all')),
    input          jsonb       NOT NULL DEFAULT '{}',
    active         boolean     NOT NULL DEFAULT true,
    next_run_at    timestamptz NOT NULL,
    last_run_at    timestamptz,
    created_by     uuid,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id)
);
CREATE INDEX schedules_due_idx ON flow.schedules (next_run_at) WHERE active;

-- Where workflows send things: outgoing webhooks (signed per Standard Webhooks with the
-- integration's sealed secret) and plain HTTP endpoints.
CREATE TABLE flow.integrations (
    id             uuid        PRIMARY KEY,
    org_id         uuid        NOT NULL,
    name           text        NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,99}$'),
    kind           text        NOT NULL CHECK (kind IN ('webhook', 'http')),
    url            text        NOT NULL CHECK (url ~ '^https?://'),
    headers        jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(headers) = 'object'),
    secret_key_id  text        NOT NULL,
    secret_nonce   bytea       NOT NULL,
    secret         bytea       NOT NULL,
    active         boolean     NOT NULL DEFAULT true,
    created_by     uuid,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name),
    UNIQUE (org_id, id)
);

-- Every attempt to deliver an outgoing webhook; `message_id` (webhook-id) is the step's
-- idempotency key, the same on every retry, so receivers can drop repeats.
CREATE TABLE flow.outgoing_deliveries (
    id              uuid        PRIMARY KEY,
    org_id          uuid        NOT NULL,
    integration_id  uuid        NOT NULL,
    execution_id    uuid,
    step_id         text,
    message_id      text        NOT NULL,
    event_type      text        NOT NULL,
    attempt         integer     NOT NULL CHECK (attempt >= 1),
    status_code     integer,
    error           text,
    duration_ms     integer     NOT NULL,
    delivered_at    timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (org_id, integration_id) REFERENCES flow.integrations (org_id, id) ON DELETE CASCADE
);
CREATE INDEX outgoing_deliveries_integration_idx ON flow.outgoing_deliveries (integration_id, delivered_at DESC, id DESC);

-- Values workflows read as vars.<name>; a secret one is sealed (AES-256-GCM) and never shown.
CREATE TABLE flow.variables (
    org_id      uuid        NOT NULL,
    name        text        NOT NULL CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_]{0,99}$'),
    secret      boolean     NOT NULL,
    value       jsonb,
    key_id      text,
    nonce       bytea,
    ciphertext  bytea,
    updated_by  uuid,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, name),
    CHECK (secret = (ciphertext IS NOT NULL) AND secret = (value IS NULL))
);

-- Per workflow and Copenhagen day: runs ended and how long they took.
CREATE TABLE flow.metrics (
    org_id         uuid        NOT NULL,
    workflow_name  text        NOT NULL,
    day            date        NOT NULL,
    runs           integer     NOT NULL DEFAULT 0,
    succeeded      integer     NOT NULL DEFAULT 0,
    failed         integer     NOT NULL DEFAULT 0,
    cancelled      integer     NOT NULL DEFAULT 0,
    total_ms       bigint      NOT NULL DEFAULT 0,
    max_ms         bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, workflow_name, day)
);

-- GDPR data-subject requests (art. 15/20 export, art. 17 erasure) about a person (by e-mail)
-- or a company (by CVR), answered by every service; due within one month (art. 12(3)).
CREATE TABLE flow.gdpr_requests (
    id            uuid        PRIMARY KEY,
    org_id        uuid        NOT NULL,
    kind          text        NOT NULL CHECK (kind IN ('erasure', 'export')),
    email         text        CHECK (email IS NULL OR email LIKE '%_@_%'),
    cvr           text        CHECK (cvr IS NULL OR cvr ~ '^[1-9][0-9]{7}$'),
    reason        text        NOT NULL DEFAULT '' CHECK (length(reason) <= 2000),
    status        text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'completed')),
    requested_by  uuid,
    requested_at  timestamptz NOT NULL DEFAULT now(),
    deadline      timestamptz NOT NULL,
    completed_at  timestamptz,
    UNIQUE (org_id, id),
    CHECK (email IS NOT NULL OR cvr IS NOT NULL)
);
CREATE INDEX gdpr_requests_list_idx ON flow.gdpr_requests (org_id, requested_at DESC, id DESC);

CREATE TABLE flow.gdpr_answers (
    request_id   uuid        NOT NULL,
    org_id       uuid        NOT NULL,
    service      text        NOT NULL CHECK (service IN ('shared', 'crm', 'renos', 'vault', 'billy', 'flow')),
    counts       jsonb       NOT NULL DEFAULT '{}',
    bundle       jsonb,
    answered_at  timestamptz NOT NULL,
    PRIMARY KEY (request_id, service),
    FOREIGN KEY (org_id, request_id) REFERENCES flow.gdpr_requests (org_id, id) ON DELETE CASCADE
);

-- Workflows, their runs and metrics: every user of the organization may read them (writes are
-- checked by role in the handlers). Integrations, variables and GDPR requests: administrators.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['workflows', 'executions', 'execution_steps', 'execution_logs',
                             'schedules', 'metrics'] LOOP
        EXECUTE format('ALTER TABLE flow.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE flow.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON flow.%I FOR ALL USING (%3$s) WITH CHECK (%3$s)', t || '_org', t,
            '(SELECT flow.tenant_system()) OR org_id = (SELECT flow.tenant_org())');
    END LOOP;
    FOREACH t IN ARRAY ARRAY['integrations', 'outgoing_deliveries', 'variables',
                             'gdpr_requests', 'gdpr_answers'] LOOP
        EXECUTE format('ALTER TABLE flow.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE flow.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON flow.%I FOR ALL USING (%3$s) WITH CHECK (%3$s)', t || '_admin', t,
            '(SELECT flow.tenant_system()) OR (org_id = (SELECT flow.tenant_org()) '
            'AND (SELECT flow.tenant_role()) = ''admin'')');
    END LOOP;
END $$;
