-- The times replaced were wrong; nothing to restore.
SELECT 1;
