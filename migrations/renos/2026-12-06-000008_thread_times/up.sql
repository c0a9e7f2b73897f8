-- Threads whose last activity was taken from a message dated in the future (before arrival
-- times were capped) are brought back to now, so they no longer sit first in the inbox. As the
-- service's own work (Row Level Security), for this transaction only.
SELECT set_config('app.system', 'on', true);
UPDATE renos.email_threads SET last_updated = now() WHERE last_updated > now();
