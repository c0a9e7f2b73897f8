-- Communications: chatbot conversations (WotNot, through flow's inbound webhooks) and e-mail
-- threads (forwarded or imported RFC 5322 messages), tied to a customer and, for businesses, a
-- CVR; suggested and sent responses from templates; labels; escalations raised from negative or
-- urgent messages. Every message is stored once: redelivered webhooks and re-imported e-mails
-- change nothing.

-- The organization's labels (for conversations, threads and customers).
CREATE TABLE renos.labels (
    id          uuid        PRIMARY KEY,
    org_id      uuid        NOT NULL,
    name        text        NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    color       text        NOT NULL DEFAULT '#808080' CHECK (color ~ '^#[0-9a-fA-F]{6}$'),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX labels_name_idx ON renos.labels (org_id, lower(name));

-- A customer conversation on any channel; for the chatbot, one per chat session. The original's
-- chatbot_conversations: raw_conversation holds the events as received, metadata the session's.
CREATE TABLE renos.conversations (
    id               uuid        PRIMARY KEY,
    org_id           uuid        NOT NULL,
    cvr              text        CHECK (cvr ~ '^[1-9][0-9]{7}$'),
    customer_id      uuid,
    channel          text        NOT NULL,
    title            text        NOT NULL DEFAULT '',
    customer_email   text,
    raw_conversation jsonb       NOT NULL DEFAULT '[]',
    metadata         jsonb       NOT NULL DEFAULT '{}',
    -- How the CVR was found: variable, text, email, domain, manual.
    cvr_source       text,
    message_count    integer     NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_message_at  timestamptz,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, customer_id) REFERENCES renos.customers (org_id, id)
);
CREATE INDEX conversations_recent_idx ON renos.conversations (org_id, created_at DESC, id DESC);
CREATE INDEX conversations_cvr_idx ON renos.conversations (org_id, cvr);

-- The chatbot's side of a conversation: WotNot's session with its bot, channel and state.
CREATE TABLE renos.chat_sessions (
    id               uuid        PRIMARY KEY,
    org_id           uuid        NOT NULL,
    cvr              text        CHECK (cvr ~ '^[1-9][0-9]{7}$'),
    conversation_id  uuid        NOT NULL,
    provider         text        NOT NULL DEFAULT 'wotnot',
    external_key     text        NOT NULL,
    bot_id           text,
    channel_name     text,
    channel_provider text,
    visitor_name     text,
    contact_id       text,
    conversation_url text,
    status           text        NOT NULL DEFAULT 'open',
    assignee         text,
    labels           text[]      NOT NULL DEFAULT '{}',
    variables        jsonb       NOT NULL DEFAULT '{}',
    started_at       timestamptz NOT NULL,
    last_event_at    timestamptz NOT NULL,
    UNIQUE (org_id, provider, external_key),
    UNIQUE (conversation_id),
    FOREIGN KEY (org_id, conversation_id) REFERENCES renos.conversations (org_id, id) ON DELETE CASCADE
);

CREATE TABLE renos.chat_messages (
    id          uuid        PRIMARY KEY,
    org_id      uuid        NOT NULL,
    cvr         text        CHECK (cvr ~ '^[1-9][0-9]{7}$'),
    session_id  uuid        NOT NULL REFERENCES renos.chat_sessions (id) ON DELETE CASCADE,
    -- (event type, created_at, message id) of the chatbot event: a redelivered event is known.
    dedupe_key  text        NOT NULL,
    -- visitor, bot, agent or note.
    author      text        NOT NULL CHECK (author IN ('visitor', 'bot', 'agent', 'note')),
    text        text        NOT NULL,
    sentiment   real        NOT NULL DEFAULT 0 CHECK (sentiment BETWEEN -1 AND 1),
    urgent      boolean     NOT NULL DEFAULT false,
    sent_at     timestamptz NOT NULL,
    UNIQUE (session_id, dedupe_key)
);
CREATE INDEX chat_messages_session_idx ON renos.chat_messages (session_id, sent_at, id);

-- A run of e-mail ingestion (one upload, one mailbox import, one forwarded delivery): counts
-- and, per failed message, the reason.
CREATE TABLE renos.email_ingest_runs (
    id           uuid        PRIMARY KEY,
    org_id       uuid        NOT NULL,
    -- upload (one message/rfc822), mbox (an import) or webhook (a forwarder through flow).
    source       text        NOT NULL CHECK (source IN ('upload', 'mbox', 'webhook')),
    received     integer     NOT NULL DEFAULT 0,
    ingested     integer     NOT NULL DEFAULT 0,
    duplicates   integer     NOT NULL DEFAULT 0,
    failed       integer     NOT NULL DEFAULT 0,
    -- [{index, message_id, reason}]
    errors       jsonb       NOT NULL DEFAULT '[]',
    created_by   uuid,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    CHECK (ingested + duplicates + failed <= received)
);
CREATE INDEX email_ingest_runs_recent_idx ON renos.email_ingest_runs (org_id, started_at DESC, id DESC);

-- The original's email_threads: subject, the thread as a whole (its messages), attachments as
-- links.
CREATE TABLE renos.email_threads (
    id                 uuid        PRIMARY KEY,
    org_id             uuid        NOT NULL,
    cvr                text        CHECK (cvr ~ '^[1-9][0-9]{7}$'),
    customer_id        uuid,
    thread_subject     text        NOT NULL DEFAULT '',
    -- Lower-case, without Re:/Fwd:/SV:/VS:/Vedr.: prefixes: the subject fallback of threading.
    normalized_subject text        NOT NULL DEFAULT '',
    customer_email     text,
    participants       text[]      NOT NULL DEFAULT '{}',
    attachments_links  jsonb       NOT NULL DEFAULT '[]',
    labels             text[]      NOT NULL DEFAULT '{}',
    status             text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'answered', 'closed')),
    cvr_source         text,
    message_count      integer     NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    last_updated       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, customer_id) REFERENCES renos.customers (org_id, id)
);
CREATE INDEX email_threads_recent_idx ON renos.email_threads (org_id, last_updated DESC, id DESC);
CREATE INDEX email_threads_subject_idx ON renos.email_threads (org_id, normalized_subject);
CREATE INDEX email_threads_cvr_idx ON renos.email_threads (org_id, cvr);

CREATE TABLE renos.email_messages (
    id           uuid        PRIMARY KEY,
    org_id       uuid        NOT NULL,
    cvr          text        CHECK (cvr ~ '^[1-9][0-9]{7}$'),
    thread_id    uuid        NOT NULL,
    -- Message-ID without brackets (a digest of the message when it has none).
    message_id   text        NOT NULL,
    in_reply_to  text,
    "references" text[]      NOT NULL DEFAULT '{}',
    direction    text        NOT NULL DEFAULT 'inbound' CHECK (direction IN ('inbound', 'outbound')),
    from_address text        NOT NULL,
    from_name    text,
    to_addresses text[]      NOT NULL DEFAULT '{}',
    cc_addresses text[]      NOT NULL DEFAULT '{}',
    subject      text        NOT NULL DEFAULT '',
    body_text    text        NOT NULL DEFAULT '',
    -- [{index, filename, content_type, size, sha256, link}]; the bytes stay in raw.
    attachments  jsonb       NOT NULL DEFAULT '[]',
    raw          bytea,
    sentiment    real        NOT NULL DEFAULT 0 CHECK (sentiment BETWEEN -1 AND 1),
    urgent       boolean     NOT NULL DEFAULT false,
    sent_at      timestamptz NOT NULL,
    ingest_run_id uuid       REFERENCES renos.email_ingest_runs (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, message_id),
    FOREIGN KEY (org_id, thread_id) REFERENCES renos.email_threads (org_id, id) ON DELETE CASCADE
);
CREATE INDEX email_messages_thread_idx ON renos.email_messages (thread_id, sent_at, id);

-- Templates of auto-responses: chosen for a new inbound message when one of its keywords
-- occurs in it (the first by position), filled with {{name}}, {{subject}}, {{company}}.
CREATE TABLE renos.email_templates (
    id          uuid        PRIMARY KEY,
    org_id      uuid        NOT NULL,
    name        text        NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    language    text        NOT NULL DEFAULT 'da' CHECK (language IN ('da', 'en')),
    subject     text        NOT NULL CHECK (length(subject) BETWEEN 1 AND 500),
    body        text        NOT NULL CHECK (length(body) BETWEEN 1 AND 20000),
    keywords    text[]      NOT NULL DEFAULT '{}',
    position    integer     NOT NULL DEFAULT 0,
    active      boolean     NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id)
);
CREATE UNIQUE INDEX email_templates_name_idx ON renos.email_templates (org_id, lower(name));

CREATE TABLE renos.email_responses (
    id               uuid        PRIMARY KEY,
    org_id           uuid        NOT NULL,
    cvr              text        CHECK (cvr ~ '^[1-9][0-9]{7}$'),
    thread_id        uuid        NOT NULL,
    -- The inbound message it answers: one suggestion per message.
    reply_to_id      uuid        NOT NULL UNIQUE REFERENCES renos.email_messages (id) ON DELETE CASCADE,
    template_id      uuid,
    subject          text        NOT NULL,
    body             text        NOT NULL,
    status           text        NOT NULL DEFAULT 'suggested' CHECK (status IN ('suggested', 'sent', 'discarded')),
    sent_by          uuid,
    sent_message_id  uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    decided_at       timestamptz,
    CHECK ((status = 'suggested') = (decided_at IS NULL)),
    FOREIGN KEY (org_id, thread_id) REFERENCES renos.email_threads (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, template_id) REFERENCES renos.email_templates (org_id, id) ON DELETE SET NULL (template_id)
);

-- Escalations raised from a negative or urgent message name it (once per message); the
-- customer may be unknown yet.
ALTER TABLE renos.escalations ALTER COLUMN customer_id DROP NOT NULL;
ALTER TABLE renos.escalations
    ADD COLUMN conversation_id uuid,
    ADD COLUMN email_thread_id uuid,
    ADD COLUMN source_message_id uuid UNIQUE,
    ADD FOREIGN KEY (org_id, conversation_id) REFERENCES renos.conversations (org_id, id) ON DELETE CASCADE,
    ADD FOREIGN KEY (org_id, email_thread_id) REFERENCES renos.email_threads (org_id, id) ON DELETE CASCADE,
    ADD CHECK (customer_id IS NOT NULL OR conversation_id IS NOT NULL OR email_thread_id IS NOT NULL);

-- Row Level Security: company data follows the user's access to the company; items without a
-- CVR are the organization's (read by all, written by admins and analysts), like the rest of
-- renos. Labels, templates and ingest runs belong to the organization.
DO $$
DECLARE
    t text;
    grant_exists text := 'EXISTS (SELECT 1 FROM renos.access_grants g WHERE g.org_id = %1$I.org_id '
        'AND g.cvr = %1$I.cvr AND g.user_id = (SELECT renos.tenant_user()) AND g.level IN (%2$s))';
BEGIN
    FOREACH t IN ARRAY ARRAY['conversations', 'chat_sessions', 'chat_messages', 'email_threads',
        'email_messages', 'email_responses'] LOOP
        EXECUTE format('ALTER TABLE renos.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE renos.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON renos.%I FOR SELECT USING (%s)', t || '_read', t,
            format('(SELECT renos.tenant_system()) OR (org_id = (SELECT renos.tenant_org()) AND ('
                'cvr IS NULL OR (SELECT renos.tenant_role()) = ''admin'' OR ' || grant_exists || '))',
                t, '''read'', ''write'', ''admin'''));
        EXECUTE format('CREATE POLICY %I ON renos.%I FOR ALL USING (%3$s) WITH CHECK (%3$s)', t || '_write', t,
            format('(SELECT renos.tenant_system()) OR (org_id = (SELECT renos.tenant_org()) AND ('
                '(SELECT renos.tenant_role()) = ''admin'' OR (cvr IS NULL AND (SELECT renos.tenant_role()) = ''analyst'') '
                'OR (cvr IS NOT NULL AND ' || grant_exists || ')))', t, '''write'', ''admin'''));
    END LOOP;
    FOREACH t IN ARRAY ARRAY['labels', 'email_templates', 'email_ingest_runs'] LOOP
        EXECUTE format('ALTER TABLE renos.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE renos.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON renos.%I FOR SELECT USING ((SELECT renos.tenant_system()) '
            'OR org_id = (SELECT renos.tenant_org()))', t || '_read', t);
        EXECUTE format('CREATE POLICY %I ON renos.%I FOR ALL USING (%3$s) WITH CHECK (%3$s)', t || '_write', t,
            '(SELECT renos.tenant_system()) OR (org_id = (SELECT renos.tenant_org()) '
            'AND (SELECT renos.tenant_role()) IN (''admin'', ''analyst''))');
    END LOOP;
END $$;
