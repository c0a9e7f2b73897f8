DROP TABLE shared.organizations;
