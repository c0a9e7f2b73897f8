DROP TABLE crm.tasks;
DROP TABLE crm.activities;
