-- Organizations: the businesses using the platform (the tenants). Every other service keeps a
-- projection of this table, fed by tekup.shared.v1.OrganizationCreated/Renamed events.
CREATE TABLE shared.organizations (
    id          uuid        PRIMARY KEY,
    name        text        NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX organizations_name_key ON shared.organizations (lower(name));
