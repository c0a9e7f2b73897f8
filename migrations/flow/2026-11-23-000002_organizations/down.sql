DROP TABLE flow.organizations;
