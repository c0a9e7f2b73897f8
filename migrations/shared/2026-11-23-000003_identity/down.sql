DROP FUNCTION shared.ensure_log_partitions(date, int);
DROP TABLE shared.system_logs;
DROP TABLE shared.audit_logs;
DROP TABLE shared.login_failures;
DROP TABLE shared.refresh_tokens;
DROP TABLE shared.user_companies;
DROP TABLE shared.companies;
DROP TABLE shared.users;
