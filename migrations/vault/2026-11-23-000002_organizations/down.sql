DROP TABLE vault.organizations;
