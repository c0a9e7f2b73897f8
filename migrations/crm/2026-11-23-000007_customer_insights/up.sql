-- Customer insights (the customer-insights design): customers, their interactions with
-- full-text search (Danish and English) and sentiment, and detected behaviour patterns.
-- Customers belong to an organization and, when they are a business, to a company (CVR):
-- then access follows the grants on that company; otherwise every member of the
-- organization may read them and analysts and administrators may write.

CREATE FUNCTION crm.can_access_customer(p_org uuid, p_cvr text, p_level text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN p_cvr IS NOT NULL THEN crm.can_access(p_org, p_cvr, p_level)
        ELSE crm.tenant_system()
             OR (p_org = crm.tenant_org()
                 AND (p_level = 'read' OR crm.tenant_role() IN ('admin', 'analyst')))
    END
$$;

CREATE TABLE crm.customers (
    id                 uuid         PRIMARY KEY,
    org_id             uuid         NOT NULL,
    cvr                text         CHECK (cvr IS NULL OR cvr ~ '^[1-9][0-9]{7}$'),
    external_id        text         NOT NULL CHECK (length(btrim(external_id)) BETWEEN 1 AND 255),
    email              text         CHECK (email IS NULL OR email LIKE '%_@_%'),
    first_name         text         CHECK (first_name IS NULL OR length(first_name) <= 100),
    last_name          text         CHECK (last_name IS NULL OR length(last_name) <= 100),
    segment            text         CHECK (segment IS NULL OR length(segment) <= 100),
    metadata           jsonb        NOT NULL DEFAULT '{}',
    first_seen_at      timestamptz  NOT NULL,
    last_seen_at       timestamptz  NOT NULL,
    interaction_count  integer      NOT NULL DEFAULT 0 CHECK (interaction_count >= 0),
    average_sentiment  numeric(5,4) CHECK (average_sentiment IS NULL OR average_sentiment BETWEEN -1 AND 1),
    created_at         timestamptz  NOT NULL DEFAULT now(),
    updated_at         timestamptz  NOT NULL DEFAULT now(),
    UNIQUE (org_id, external_id),
    CHECK (last_seen_at >= first_seen_at)
);
CREATE INDEX customers_email_idx ON crm.customers (email);
CREATE INDEX customers_segment_idx ON crm.customers (org_id, segment);
CREATE INDEX customers_cvr_idx ON crm.customers (org_id, cvr);

CREATE TABLE crm.customer_interactions (
    id                    uuid         PRIMARY KEY,
    customer_id           uuid         NOT NULL REFERENCES crm.customers (id) ON DELETE CASCADE,
    org_id                uuid         NOT NULL,
    cvr                   text,
    "timestamp"           timestamptz  NOT NULL,
    channel               text         NOT NULL CHECK (channel IN ('web', 'mobile', 'email', 'chat', 'phone')),
    event_type            text         NOT NULL CHECK (length(btrim(event_type)) BETWEEN 1 AND 100),
    content               text,
    sentiment             jsonb,
    sentiment_confidence  numeric(5,4) CHECK (sentiment_confidence IS NULL OR sentiment_confidence BETWEEN 0 AND 1),
    metadata              jsonb        NOT NULL DEFAULT '{}',
    processed_at          timestamptz,
    created_at            timestamptz  NOT NULL DEFAULT now(),
    -- Danish stemming for the Danish text the business writes, English for the rest.
    search                tsvector GENERATED ALWAYS AS (
        to_tsvector('danish', coalesce(content, '')) || to_tsvector('english', coalesce(content, ''))
    ) STORED
);
CREATE INDEX interactions_customer_idx ON crm.customer_interactions (customer_id);
CREATE INDEX interactions_org_time_idx ON crm.customer_interactions (org_id, "timestamp" DESC);
CREATE INDEX interactions_channel_idx ON crm.customer_interactions (channel);
CREATE INDEX interactions_sentiment_label_idx ON crm.customer_interactions ((sentiment ->> 'label'));
CREATE INDEX interactions_metadata_idx ON crm.customer_interactions USING gin (metadata jsonb_path_ops);
CREATE INDEX interactions_search_idx ON crm.customer_interactions USING gin (search);

-- "timestamp must not be in the future": a trigger, since a CHECK must not read the clock.
CREATE FUNCTION crm.interaction_not_in_future() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW."timestamp" > now() + interval '5 minutes' THEN
        RAISE EXCEPTION 'interaction timestamp % is in the future', NEW."timestamp"
            USING ERRCODE = 'check_violation', CONSTRAINT = 'customer_interactions_timestamp_check';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER interaction_not_in_future BEFORE INSERT OR UPDATE ON crm.customer_interactions
    FOR EACH ROW EXECUTE FUNCTION crm.interaction_not_in_future();

CREATE TABLE crm.behavior_patterns (
    id            uuid         PRIMARY KEY,
    customer_id   uuid         NOT NULL REFERENCES crm.customers (id) ON DELETE CASCADE,
    org_id        uuid         NOT NULL,
    cvr           text,
    pattern_type  text         NOT NULL CHECK (length(btrim(pattern_type)) BETWEEN 1 AND 100),
    confidence    numeric(5,4) NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
    frequency     integer      NOT NULL CHECK (frequency > 0),
    description   text,
    metadata      jsonb        NOT NULL DEFAULT '{}',
    detected_at   timestamptz  NOT NULL,
    valid_until   timestamptz  CHECK (valid_until IS NULL OR valid_until > detected_at),
    created_at    timestamptz  NOT NULL DEFAULT now()
);
CREATE INDEX patterns_customer_idx ON crm.behavior_patterns (customer_id);
CREATE INDEX patterns_org_idx ON crm.behavior_patterns (org_id);
CREATE INDEX patterns_type_idx ON crm.behavior_patterns (pattern_type);
CREATE INDEX patterns_detected_idx ON crm.behavior_patterns (detected_at DESC);

ALTER TABLE crm.customers ENABLE ROW LEVEL SECURITY;
ALTER TABLE crm.customers FORCE ROW LEVEL SECURITY;
CREATE POLICY customers_read ON crm.customers FOR SELECT USING (crm.can_access_customer(org_id, cvr, 'read'));
CREATE POLICY customers_insert ON crm.customers FOR INSERT WITH CHECK (crm.can_access_customer(org_id, cvr, 'write'));
CREATE POLICY customers_update ON crm.customers FOR UPDATE
    USING (crm.can_access_customer(org_id, cvr, 'write')) WITH CHECK (crm.can_access_customer(org_id, cvr, 'write'));
CREATE POLICY customers_delete ON crm.customers FOR DELETE USING (crm.can_access_customer(org_id, cvr, 'write'));
ALTER TABLE crm.customer_interactions ENABLE ROW LEVEL SECURITY;
ALTER TABLE crm.customer_interactions FORCE ROW LEVEL SECURITY;
CREATE POLICY interactions_read ON crm.customer_interactions FOR SELECT USING (crm.can_access_customer(org_id, cvr, 'read'));
CREATE POLICY interactions_insert ON crm.customer_interactions FOR INSERT WITH CHECK (crm.can_access_customer(org_id, cvr, 'write'));
CREATE POLICY interactions_update ON crm.customer_interactions FOR UPDATE
    USING (crm.can_access_customer(org_id, cvr, 'write')) WITH CHECK (crm.can_access_customer(org_id, cvr, 'write'));
CREATE POLICY interactions_delete ON crm.customer_interactions FOR DELETE USING (crm.can_access_customer(org_id, cvr, 'write'));
ALTER TABLE crm.behavior_patterns ENABLE ROW LEVEL SECURITY;
ALTER TABLE crm.behavior_patterns FORCE ROW LEVEL SECURITY;
CREATE POLICY patterns_read ON crm.behavior_patterns FOR SELECT USING (crm.can_access_customer(org_id, cvr, 'read'));
CREATE POLICY patterns_insert ON crm.behavior_patterns FOR INSERT WITH CHECK (crm.can_access_customer(org_id, cvr, 'write'));
CREATE POLICY patterns_update ON crm.behavior_patterns FOR UPDATE
    USING (crm.can_access_customer(org_id, cvr, 'write')) WITH CHECK (crm.can_access_customer(org_id, cvr, 'write'));
CREATE POLICY patterns_delete ON crm.behavior_patterns FOR DELETE USING (crm.can_access_customer(org_id, cvr, 'write'));
