DROP TABLE vault.erased_subjects;
