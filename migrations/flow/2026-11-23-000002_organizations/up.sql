-- Local projection of shared's organizations, kept from its events: this service never reads
-- another schema. updated_at is the source event's time, so a late, older event cannot win.
CREATE TABLE flow.organizations (
    id          uuid        PRIMARY KEY,
    name        text        NOT NULL,
    updated_at  timestamptz NOT NULL
);
