-- Documents, their versions, their chunks and the chunks' embeddings.
--
-- A document is anything written about a company: an upload, a chatbot conversation, an e-mail
-- thread, a CRM activity or e-mail. It is unique on (org, source, repository, path) — for
-- uploads (upload, <cvr>, <name>), for synced items e.g. (renos, conversation, <id>) — so a new
-- upload or sync of the same item makes a new version; old versions stay readable. Only the
-- current version is chunked and searchable.
--
-- Embeddings carry the embedding space (model and dimension) they were made in. Search reads
-- only the configured space; a new model gets a new space, filled by the indexer from the
-- chunks, never a silent mix of vectors. Each space has its own partial HNSW index, created by
-- the service at start-up (its dimension is only known then).

CREATE TABLE vault.document_categories (
    id          uuid        PRIMARY KEY,
    org_id      uuid        NOT NULL,
    name        text        NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    description text        NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
    active      boolean     NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name),
    UNIQUE (org_id, id)
);

CREATE TABLE vault.documents (
    id            uuid        PRIMARY KEY,
    org_id        uuid        NOT NULL,
    cvr           text        NOT NULL CHECK (cvr ~ '^[1-9][0-9]{7}$'),
    category_id   uuid,
    kind          text        NOT NULL
                  CHECK (kind IN ('document', 'conversation', 'email_thread', 'activity', 'email')),
    source        text        NOT NULL CHECK (source ~ '^[a-z][a-z0-9_.-]{0,39}$'),
    repository    text        NOT NULL CHECK (length(repository) BETWEEN 1 AND 200),
    path          text        NOT NULL CHECK (length(path) BETWEEN 1 AND 500),
    name          text        NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 300),
    -- Where the item lives at its source, when it has an address of its own.
    url           text        CHECK (url IS NULL OR length(url) <= 2000),
    -- The person the item is about or from, found by GDPR erasure.
    contact_email text        CHECK (contact_email IS NULL OR contact_email LIKE '%_@_%'),
    version       integer     NOT NULL DEFAULT 1 CHECK (version >= 1),
    content_type  text        NOT NULL,
    uploaded_by   uuid,
    uploaded_at   timestamptz NOT NULL DEFAULT now(),
    last_updated  timestamptz NOT NULL DEFAULT now(),
    -- When what the item records happened (the search's date range).
    occurred_at   timestamptz NOT NULL DEFAULT now(),
    -- The version whose chunks are all embedded, in which space, and when.
    indexed_version integer,
    indexed_space smallint,
    indexed_at    timestamptz,
    UNIQUE (org_id, source, repository, path),
    FOREIGN KEY (org_id, category_id) REFERENCES vault.document_categories (org_id, id)
);
CREATE INDEX documents_org_cvr_idx ON vault.documents (org_id, cvr, last_updated DESC);
CREATE INDEX documents_source_idx ON vault.documents (source, repository, last_updated);
CREATE INDEX documents_contact_idx ON vault.documents (org_id, contact_email)
    WHERE contact_email IS NOT NULL;

CREATE TABLE vault.document_versions (
    document_id  uuid        NOT NULL REFERENCES vault.documents (id) ON DELETE CASCADE,
    version      integer     NOT NULL CHECK (version >= 1),
    org_id       uuid        NOT NULL,
    cvr          text        NOT NULL,
    raw_content  text        NOT NULL,
    content_type text        NOT NULL,
    byte_size    integer     NOT NULL CHECK (byte_size >= 0),
    sha256       text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    uploaded_by  uuid,
    uploaded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (document_id, version)
);

CREATE TABLE vault.chunks (
    id          uuid        PRIMARY KEY,
    document_id uuid        NOT NULL REFERENCES vault.documents (id) ON DELETE CASCADE,
    org_id      uuid        NOT NULL,
    cvr         text        NOT NULL,
    kind        text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    -- The document version the chunk was cut from.
    version     integer     NOT NULL,
    ordinal     integer     NOT NULL CHECK (ordinal >= 0),
    content     text        NOT NULL,
    -- Danish and English stems (codes and names pass through both unchanged).
    search      tsvector    GENERATED ALWAYS AS (
        to_tsvector('danish', content) || to_tsvector('english', content)
    ) STORED,
    UNIQUE (document_id, ordinal)
);
CREATE INDEX chunks_org_cvr_idx ON vault.chunks (org_id, cvr);
CREATE INDEX chunks_search_idx ON vault.chunks USING gin (search);

CREATE TABLE vault.embedding_spaces (
    id          smallint    GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model       text        NOT NULL CHECK (length(model) BETWEEN 1 AND 200),
    dimensions  integer     NOT NULL CHECK (dimensions BETWEEN 1 AND 16000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- The space a replica started with last is the one changes arriving by event are queued
    -- for (replicas with the same model agree; during a model change the new one wins).
    registered_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (model, dimensions)
);

CREATE TABLE vault.embeddings (
    chunk_id    uuid        NOT NULL REFERENCES vault.chunks (id) ON DELETE CASCADE,
    space_id    smallint    NOT NULL REFERENCES vault.embedding_spaces (id),
    document_id uuid        NOT NULL,
    org_id      uuid        NOT NULL,
    cvr         text        NOT NULL,
    kind        text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    embedding   vector      NOT NULL,
    PRIMARY KEY (chunk_id, space_id)
);
-- Exact search within a company: the filter through this index, then distances on its rows.
CREATE INDEX embeddings_scope_idx ON vault.embeddings (space_id, org_id, cvr);
CREATE INDEX embeddings_document_idx ON vault.embeddings (document_id);

-- Documents whose current version is not yet chunked and embedded in a space. The indexer
-- takes one at a time (SKIP LOCKED), chunks it when its version changed, embeds what is
-- missing, and announces it; a failure puts it back for later (not_before).
CREATE TABLE vault.index_queue (
    document_id uuid        NOT NULL REFERENCES vault.documents (id) ON DELETE CASCADE,
    space_id    smallint    NOT NULL REFERENCES vault.embedding_spaces (id),
    org_id      uuid        NOT NULL,
    cvr         text        NOT NULL,
    enqueued_at timestamptz NOT NULL DEFAULT now(),
    attempts    integer     NOT NULL DEFAULT 0,
    not_before  timestamptz NOT NULL DEFAULT now(),
    last_error  text,
    PRIMARY KEY (document_id, space_id)
);
CREATE INDEX index_queue_next_idx ON vault.index_queue (space_id, not_before);

-- Per source and repository: when it last delivered, how many documents, the last failure.
CREATE TABLE vault.sync_status (
    org_id         uuid        NOT NULL,
    source         text        NOT NULL,
    repository     text        NOT NULL,
    status         text        NOT NULL CHECK (status IN ('ok', 'failed')),
    documents      bigint      NOT NULL DEFAULT 0,
    last_synced_at timestamptz NOT NULL,
    last_error     text,
    PRIMARY KEY (org_id, source, repository)
);

-- Row Level Security: company data by the user's access to the company; categories and sync
-- status by organization (admins change categories).
ALTER TABLE vault.document_categories ENABLE ROW LEVEL SECURITY;
ALTER TABLE vault.document_categories FORCE ROW LEVEL SECURITY;
CREATE POLICY categories_read ON vault.document_categories FOR SELECT
    USING (vault.tenant_system() OR org_id = vault.tenant_org());
CREATE POLICY categories_write ON vault.document_categories FOR ALL
    USING (vault.tenant_system() OR (org_id = vault.tenant_org() AND vault.tenant_role() = 'admin'))
    WITH CHECK (vault.tenant_system() OR (org_id = vault.tenant_org() AND vault.tenant_role() = 'admin'));

ALTER TABLE vault.sync_status ENABLE ROW LEVEL SECURITY;
ALTER TABLE vault.sync_status FORCE ROW LEVEL SECURITY;
CREATE POLICY sync_read ON vault.sync_status FOR SELECT
    USING (vault.tenant_system() OR org_id = vault.tenant_org());
CREATE POLICY sync_write ON vault.sync_status FOR ALL
    USING (vault.tenant_system() OR org_id = vault.tenant_org())
    WITH CHECK (vault.tenant_system() OR org_id = vault.tenant_org());

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['documents', 'document_versions', 'chunks', 'embeddings', 'index_queue'] LOOP
        EXECUTE format('ALTER TABLE vault.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE vault.%I FORCE ROW LEVEL SECURITY', t);
        -- Reading is vault.can_access(org_id, cvr, 'read') written out, with the tenant's
        -- settings in sub-selects: PostgreSQL evaluates those once per query (InitPlans),
        -- not once per row, which searches over thousands of vectors feel.
        EXECUTE format('CREATE POLICY %I ON vault.%I FOR SELECT USING ('
            '(SELECT vault.tenant_system()) OR (org_id = (SELECT vault.tenant_org()) AND ('
            '(SELECT vault.tenant_role()) = ''admin'' OR EXISTS (SELECT 1 FROM vault.access_grants g '
            'WHERE g.org_id = %I.org_id AND g.cvr = %I.cvr AND g.user_id = (SELECT vault.tenant_user())))))',
            t || '_read', t, t, t);
        EXECUTE format('CREATE POLICY %I ON vault.%I FOR INSERT WITH CHECK (vault.can_access(org_id, cvr, ''write''))', t || '_insert', t);
        EXECUTE format('CREATE POLICY %I ON vault.%I FOR UPDATE USING (vault.can_access(org_id, cvr, ''write'')) WITH CHECK (vault.can_access(org_id, cvr, ''write''))', t || '_update', t);
        EXECUTE format('CREATE POLICY %I ON vault.%I FOR DELETE USING (vault.can_access(org_id, cvr, ''write''))', t || '_delete', t);
    END LOOP;
END $$;

