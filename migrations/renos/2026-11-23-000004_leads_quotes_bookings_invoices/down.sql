DROP TABLE renos.invoice_line_items, renos.task_executions, renos.cleaning_plan_bookings,
    renos.bookings, renos.invoice_counters, renos.invoices, renos.cleaning_plans, renos.quotes,
    renos.price_calculations, renos.services, renos.leads, renos.customers;
