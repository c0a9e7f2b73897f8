-- Why billy gave up putting an issued invoice into Billy.dk (tekup.billy.v1.InvoiceSyncFailed);
-- cleared when the invoice is synced after all.
ALTER TABLE renos.invoices ADD COLUMN billy_sync_error text;
