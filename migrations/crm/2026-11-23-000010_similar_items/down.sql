DROP TABLE crm.similar_items;
