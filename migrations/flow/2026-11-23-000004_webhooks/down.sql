DROP TABLE flow.webhook_deliveries;
DROP TABLE flow.webhooks;
