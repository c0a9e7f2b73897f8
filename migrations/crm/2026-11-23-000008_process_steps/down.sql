DROP TABLE crm.process_steps;
