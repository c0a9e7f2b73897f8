DROP TABLE billy.organizations;
