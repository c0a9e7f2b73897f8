DROP TABLE crm.behavior_patterns;
DROP TABLE crm.customer_interactions;
DROP FUNCTION crm.interaction_not_in_future();
DROP TABLE crm.customers;
DROP FUNCTION crm.can_access_customer(uuid, text, text);
