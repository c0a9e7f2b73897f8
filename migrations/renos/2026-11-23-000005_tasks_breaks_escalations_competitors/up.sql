-- The rest of the operation: checklists of the work (cleaning_tasks, ticked off by executions),
-- cleaners' breaks (no booking may fall in one), escalations of complaints, and competitors'
-- prices for the pricing analysis.

CREATE TABLE renos.cleaning_tasks (
    id          uuid        PRIMARY KEY,
    org_id      uuid        NOT NULL,
    cvr         text,
    -- A plan's checklist applies to each of its visits; a booking's only to that visit.
    plan_id     uuid,
    booking_id  uuid,
    title       text        NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 200),
    position    integer     NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((plan_id IS NULL) <> (booking_id IS NULL)),
    FOREIGN KEY (org_id, plan_id) REFERENCES renos.cleaning_plans (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, booking_id) REFERENCES renos.bookings (org_id, id) ON DELETE CASCADE
);
CREATE INDEX cleaning_tasks_plan_idx ON renos.cleaning_tasks (plan_id, position);
CREATE INDEX cleaning_tasks_booking_idx ON renos.cleaning_tasks (booking_id, position);

ALTER TABLE renos.task_executions ADD COLUMN completed_task_ids uuid[] NOT NULL DEFAULT '{}';

CREATE TABLE renos.breaks (
    id          uuid        PRIMARY KEY,
    org_id      uuid        NOT NULL,
    cleaner_id  uuid        NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL CHECK (ends_at > starts_at),
    reason      text        NOT NULL DEFAULT '' CHECK (length(reason) <= 500),
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT breaks_overlap EXCLUDE USING gist (
        org_id WITH =, cleaner_id WITH =, tstzrange(starts_at, ends_at) WITH &&)
);

-- A cleaner on a break is not bookable, and a break cannot cover a booked visit. Checked by
-- triggers under a per-cleaner advisory lock, so two concurrent writers cannot both pass.
-- The check must see the cleaner's rows of every company, not only those the writer may read:
-- it looks as the service's own work (app.system) for its two queries, then restores the
-- writer's context. It reveals nothing but that the cleaner is busy.
CREATE FUNCTION renos.check_cleaner_free() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    writer text := coalesce(current_setting('app.system', true), '');
    busy boolean;
BEGIN
    IF NEW.cleaner_id IS NULL THEN
        RETURN NEW;
    END IF;
    -- (Two steps: a break has no status to look at.)
    IF TG_TABLE_NAME = 'bookings' THEN
        IF NEW.status = 'cancelled' THEN
            RETURN NEW;
        END IF;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('renos.cleaner:' || NEW.org_id || ':' || NEW.cleaner_id));
    PERFORM set_config('app.system', 'on', true);
    IF TG_TABLE_NAME = 'bookings' THEN
        busy := EXISTS (SELECT 1 FROM renos.breaks b WHERE b.org_id = NEW.org_id
                        AND b.cleaner_id = NEW.cleaner_id
                        AND tstzrange(b.starts_at, b.ends_at) && tstzrange(NEW.starts_at, NEW.ends_at));
    ELSE
        busy := EXISTS (SELECT 1 FROM renos.bookings b WHERE b.org_id = NEW.org_id
                        AND b.cleaner_id = NEW.cleaner_id AND b.status <> 'cancelled'
                        AND tstzrange(b.starts_at, b.ends_at) && tstzrange(NEW.starts_at, NEW.ends_at));
    END IF;
    PERFORM set_config('app.system', writer, true);
    IF busy AND TG_TABLE_NAME = 'bookings' THEN
        RAISE EXCEPTION 'the cleaner is on a break then'
            USING ERRCODE = 'exclusion_violation', CONSTRAINT = 'bookings_cleaner_break';
    ELSIF busy THEN
        RAISE EXCEPTION 'the cleaner has a booking then'
            USING ERRCODE = 'exclusion_violation', CONSTRAINT = 'breaks_cleaner_booked';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER bookings_cleaner_free BEFORE INSERT OR UPDATE OF starts_at, ends_at, cleaner_id, status
    ON renos.bookings FOR EACH ROW EXECUTE FUNCTION renos.check_cleaner_free();
CREATE TRIGGER breaks_cleaner_free BEFORE INSERT OR UPDATE ON renos.breaks
    FOR EACH ROW EXECUTE FUNCTION renos.check_cleaner_free();

CREATE TABLE renos.escalations (
    id          uuid        PRIMARY KEY,
    org_id      uuid        NOT NULL,
    cvr         text,
    customer_id uuid        NOT NULL,
    booking_id  uuid,
    severity    text        NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    description text        NOT NULL CHECK (length(btrim(description)) BETWEEN 1 AND 5000),
    owner_id    uuid,
    status      text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    resolution  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    CHECK ((status = 'resolved') = (resolved_at IS NOT NULL)),
    FOREIGN KEY (org_id, customer_id) REFERENCES renos.customers (org_id, id),
    FOREIGN KEY (org_id, booking_id) REFERENCES renos.bookings (org_id, id)
);
CREATE INDEX escalations_open_idx ON renos.escalations (org_id, status, created_at DESC);

CREATE TABLE renos.competitor_pricing (
    id             uuid        PRIMARY KEY,
    org_id         uuid        NOT NULL,
    competitor     text        NOT NULL CHECK (length(btrim(competitor)) BETWEEN 1 AND 200),
    service_code   text        NOT NULL,
    pricing        text        NOT NULL CHECK (pricing IN ('per_m2', 'hourly', 'fixed')),
    unit_price_ore bigint      NOT NULL CHECK (unit_price_ore > 0),
    observed_at    date        NOT NULL,
    source         text        NOT NULL DEFAULT '' CHECK (length(source) <= 500),
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX competitor_pricing_service_idx ON renos.competitor_pricing (org_id, service_code, observed_at);

DO $$
DECLARE
    t text;
    grant_exists text := 'EXISTS (SELECT 1 FROM renos.access_grants g WHERE g.org_id = %1$I.org_id '
        'AND g.cvr = %1$I.cvr AND g.user_id = (SELECT renos.tenant_user()) AND g.level IN (%2$s))';
BEGIN
    FOREACH t IN ARRAY ARRAY['cleaning_tasks', 'escalations'] LOOP
        EXECUTE format('ALTER TABLE renos.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE renos.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON renos.%I FOR SELECT USING (%s)', t || '_read', t,
            format('(SELECT renos.tenant_system()) OR (org_id = (SELECT renos.tenant_org()) AND ('
                'cvr IS NULL OR (SELECT renos.tenant_role()) = ''admin'' OR ' || grant_exists || '))',
                t, '''read'', ''write'', ''admin'''));
        EXECUTE format('CREATE POLICY %I ON renos.%I FOR ALL USING (%3$s) WITH CHECK (%3$s)', t || '_write', t,
            format('(SELECT renos.tenant_system()) OR (org_id = (SELECT renos.tenant_org()) AND ('
                '(SELECT renos.tenant_role()) = ''admin'' OR (cvr IS NULL AND (SELECT renos.tenant_role()) = ''analyst'') '
                'OR (cvr IS NOT NULL AND ' || grant_exists || ')))', t, '''write'', ''admin'''));
    END LOOP;
    -- Breaks and competitor prices belong to the organization; admins and analysts change them.
    FOREACH t IN ARRAY ARRAY['breaks', 'competitor_pricing'] LOOP
        EXECUTE format('ALTER TABLE renos.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE renos.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON renos.%I FOR SELECT USING ((SELECT renos.tenant_system()) '
            'OR org_id = (SELECT renos.tenant_org()))', t || '_read', t);
        EXECUTE format('CREATE POLICY %I ON renos.%I FOR ALL USING (%3$s) WITH CHECK (%3$s)', t || '_write', t,
            '(SELECT renos.tenant_system()) OR (org_id = (SELECT renos.tenant_org()) '
            'AND (SELECT renos.tenant_role()) IN (''admin'', ''analyst''))');
    END LOOP;
END $$;
