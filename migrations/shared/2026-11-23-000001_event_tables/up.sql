-- Transactional outbox: a row is written in the same transaction as the change it announces,
-- and a relay publishes it to Kafka afterwards. Unpublished rows are found through a small
-- partial index; published rows are deleted by the relay's housekeeping.
CREATE TABLE shared.outbox (
    id            uuid        PRIMARY KEY,              -- the event id (UUIDv7, time-ordered)
    topic         text        NOT NULL,
    event_type    text        NOT NULL,
    aggregate_id  text        NOT NULL,                 -- Kafka key: one aggregate, one partition
    org_id        uuid,
    -- who caused it: the user of the transaction's tenant context (tekup_db::tenancy)
    actor_id      uuid        DEFAULT nullif(current_setting('app.user_id', true), '')::uuid,
    cvr           text,                                 -- the company it concerns, if one
    payload       bytea       NOT NULL,                 -- the encoded protobuf envelope
    traceparent   text,                                 -- W3C trace context of the writer
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(), -- insert time, not tx start
    published_at  timestamptz,
    attempts      integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error    text
);
CREATE INDEX outbox_unpublished_idx ON shared.outbox (created_at, id) WHERE published_at IS NULL;
CREATE INDEX outbox_published_idx ON shared.outbox (published_at) WHERE published_at IS NOT NULL;

-- Wakes the relay as soon as a transaction that wrote events commits (nothing on rollback).
CREATE FUNCTION shared.outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('shared_outbox', '');
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON shared.outbox
    FOR EACH STATEMENT EXECUTE FUNCTION shared.outbox_notify();

-- Idempotent consumption: the id of every applied event, written in the same transaction as the
-- handler's effects, so a redelivered event is recognised and skipped.
CREATE TABLE shared.inbox (
    event_id      uuid        NOT NULL,
    consumer      text        NOT NULL,
    topic         text        NOT NULL,
    event_type    text        NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    trace_id      text,                                 -- the trace the consumer's span joined
    PRIMARY KEY (consumer, event_id)
);
