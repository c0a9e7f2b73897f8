DROP TABLE renos.organizations;
