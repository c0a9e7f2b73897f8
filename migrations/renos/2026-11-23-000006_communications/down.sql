ALTER TABLE renos.escalations DROP COLUMN source_message_id, DROP COLUMN email_thread_id,
    DROP COLUMN conversation_id;
DELETE FROM renos.escalations WHERE customer_id IS NULL;
ALTER TABLE renos.escalations ALTER COLUMN customer_id SET NOT NULL;
DROP TABLE renos.email_responses;
DROP TABLE renos.email_templates;
DROP TABLE renos.email_messages;
DROP TABLE renos.email_threads;
DROP TABLE renos.email_ingest_runs;
DROP TABLE renos.chat_messages;
DROP TABLE renos.chat_sessions;
DROP TABLE renos.conversations;
DROP TABLE renos.labels;
