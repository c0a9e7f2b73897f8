-- A company's contacts are listed in id order (cursor pagination: id > after): with this index
-- a page is read in order instead of sorting all of the company's contacts (make bench: a
-- company with 1000 contacts took 6.8 ms per page in SQL before).
CREATE INDEX contacts_page_idx ON crm.contacts (org_id, cvr, id);
