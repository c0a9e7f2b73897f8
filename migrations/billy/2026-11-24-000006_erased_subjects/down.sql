DROP TABLE billy.erased_subjects;
