-- The registry's facts about a company besides its name and status: advertising protection
-- (reklamebeskyttelse in the CVR registry), which means no marketing may be sent to it.
ALTER TABLE shared.companies ADD COLUMN advertising_protected boolean NOT NULL DEFAULT false;
