DROP TABLE crm.deals;
DROP TABLE crm.pipeline_stages;
