-- Identity and tenancy. Users belong to one organization; companies (by CVR) are registered per
-- organization; user_companies grants a user read, write or admin access to one company.

CREATE TABLE shared.users (
    id             uuid        PRIMARY KEY,
    org_id         uuid        NOT NULL REFERENCES shared.organizations (id),
    email          text        NOT NULL CHECK (email = lower(btrim(email)) AND email LIKE '%_@_%'),
    password_hash  text        NOT NULL,                 -- argon2id, PHC string
    first_name     text        NOT NULL CHECK (length(btrim(first_name)) BETWEEN 1 AND 100),
    last_name      text        NOT NULL CHECK (length(btrim(last_name)) BETWEEN 1 AND 100),
    role           text        NOT NULL CHECK (role IN ('admin', 'analyst', 'viewer')),
    -- Fine-grained permissions beyond the role (the customer-insights design), a JSON array.
    permissions    jsonb       NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(permissions) = 'array'),
    active         boolean     NOT NULL DEFAULT true,
    last_login_at  timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON shared.users (email);
CREATE INDEX users_org_id_idx ON shared.users (org_id);

CREATE TABLE shared.companies (
    id          uuid        PRIMARY KEY,
    org_id      uuid        NOT NULL REFERENCES shared.organizations (id),
    cvr         text        NOT NULL CHECK (cvr ~ '^[1-9][0-9]{7}$'),
    name        text        NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    status      text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, cvr)
);
CREATE INDEX companies_cvr_created_at_idx ON shared.companies (cvr, created_at);

CREATE TABLE shared.user_companies (
    user_id       uuid        NOT NULL REFERENCES shared.users (id),
    org_id        uuid        NOT NULL,
    cvr           text        NOT NULL,
    access_level  text        NOT NULL CHECK (access_level IN ('read', 'write', 'admin')),
    granted_at    timestamptz NOT NULL DEFAULT now(),
    granted_by    uuid        REFERENCES shared.users (id),
    PRIMARY KEY (user_id, cvr),
    FOREIGN KEY (org_id, cvr) REFERENCES shared.companies (org_id, cvr)
);
CREATE INDEX user_companies_org_cvr_idx ON shared.user_companies (org_id, cvr);
CREATE INDEX user_companies_granted_by_idx ON shared.user_companies (granted_by);

-- Refresh tokens, stored as SHA-256 hashes. Each login starts a family; every refresh rotates
-- the token (the old one gets replaced_at). Presenting a rotated token again means it leaked:
-- the whole family is revoked.
CREATE TABLE shared.refresh_tokens (
    id           uuid        PRIMARY KEY,
    family_id    uuid        NOT NULL,
    user_id      uuid        NOT NULL REFERENCES shared.users (id),
    token_hash   bytea       NOT NULL UNIQUE,
    issued_at    timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    replaced_at  timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON shared.refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON shared.refresh_tokens (user_id);

-- Failed logins, per account and per source, for bounded attempts.
CREATE TABLE shared.login_failures (
    id         bigserial   PRIMARY KEY,
    email      text        NOT NULL,
    source     text        NOT NULL,
    failed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_email_idx ON shared.login_failures (email, failed_at);
CREATE INDEX login_failures_source_idx ON shared.login_failures (source, failed_at);

-- The cross-app audit trail: one row per event of any service. Partitioned by month; a default
-- partition catches anything outside the partitions made ahead, so nothing is ever refused.
CREATE TABLE shared.audit_logs (
    id           uuid        NOT NULL,                   -- the event id
    occurred_at  timestamptz NOT NULL,
    org_id       uuid,
    actor_id     uuid,
    cvr          text,
    source       text        NOT NULL,
    event_type   text        NOT NULL,
    subject      text        NOT NULL,
    topic        text        NOT NULL,
    details      jsonb       NOT NULL DEFAULT '{}',
    PRIMARY KEY (id, occurred_at)
) PARTITION BY RANGE (occurred_at);
CREATE TABLE shared.audit_logs_default PARTITION OF shared.audit_logs DEFAULT;
CREATE INDEX audit_logs_org_time_idx ON shared.audit_logs (org_id, occurred_at DESC, id);
CREATE INDEX audit_logs_cvr_created_idx ON shared.audit_logs (cvr, occurred_at);
CREATE INDEX audit_logs_actor_idx ON shared.audit_logs (actor_id, occurred_at);
CREATE INDEX audit_logs_type_time_idx ON shared.audit_logs (event_type, occurred_at);

CREATE TABLE shared.system_logs (
    id          uuid        NOT NULL,
    "timestamp" timestamptz NOT NULL DEFAULT now(),
    org_id      uuid,
    event_type  text        NOT NULL,
    severity    text        NOT NULL CHECK (severity IN ('info', 'warning', 'error')),
    user_id     uuid,
    cvr         text,
    details     jsonb       NOT NULL DEFAULT '{}',
    PRIMARY KEY (id, "timestamp")
) PARTITION BY RANGE ("timestamp");
CREATE TABLE shared.system_logs_default PARTITION OF shared.system_logs DEFAULT;
CREATE INDEX system_logs_type_time_idx ON shared.system_logs (event_type, "timestamp");
CREATE INDEX system_logs_user_cvr_idx ON shared.system_logs (user_id, cvr);
CREATE INDEX system_logs_cvr_time_idx ON shared.system_logs (cvr, "timestamp");

-- Creates the monthly partitions from the month of `from_month` for `months` months.
-- Idempotent; called at start-up and daily.
CREATE FUNCTION shared.ensure_log_partitions(from_month date, months int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    m date;
    t text;
BEGIN
    FOR i IN 0 .. months - 1 LOOP
        m := (date_trunc('month', from_month) + make_interval(months => i))::date;
        FOREACH t IN ARRAY ARRAY['audit_logs', 'system_logs'] LOOP
            IF to_regclass(format('shared.%I', t || '_' || to_char(m, 'YYYY_MM'))) IS NULL THEN
                EXECUTE format(
                    'CREATE TABLE shared.%I PARTITION OF shared.%I FOR VALUES FROM (%L) TO (%L)',
                    t || '_' || to_char(m, 'YYYY_MM'), t, m, (m + interval '1 month')::date);
            END IF;
        END LOOP;
    END LOOP;
END $$;
SELECT shared.ensure_log_partitions(current_date - 31, 4);
