DROP TABLE renos.competitor_pricing, renos.escalations;
DROP TRIGGER breaks_cleaner_free ON renos.breaks;
DROP TRIGGER bookings_cleaner_free ON renos.bookings;
DROP FUNCTION renos.check_cleaner_free();
DROP TABLE renos.breaks;
ALTER TABLE renos.task_executions DROP COLUMN completed_task_ids;
DROP TABLE renos.cleaning_tasks;
