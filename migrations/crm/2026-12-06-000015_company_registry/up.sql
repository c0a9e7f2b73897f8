-- The registry's facts about a company as shared announces them (CompanyRegistered,
-- CompanyChanged): whether it is active or has ceased, and its advertising protection
-- (reklamebeskyttelse: no marketing to it). The company page shows both in its header.
-- registry_updated_at is the time of the event the facts came from, so a late, older event
-- (a replayed registration) cannot undo a newer change.
ALTER TABLE crm.companies
    ADD COLUMN registry_status text NOT NULL DEFAULT 'active'
        CHECK (registry_status IN ('active', 'inactive')),
    ADD COLUMN advertising_protected boolean NOT NULL DEFAULT false,
    ADD COLUMN registry_updated_at timestamptz;
