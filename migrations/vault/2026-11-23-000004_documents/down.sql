DROP TABLE vault.sync_status;
DROP TABLE vault.index_queue;
DROP TABLE vault.embeddings;
DROP TABLE vault.embedding_spaces;
DROP TABLE vault.chunks;
DROP TABLE vault.document_versions;
DROP TABLE vault.documents;
DROP TABLE vault.document_categories;
