ALTER TABLE shared.companies DROP COLUMN advertising_protected;
