ALTER TABLE renos.invoices DROP COLUMN billy_sync_error;
