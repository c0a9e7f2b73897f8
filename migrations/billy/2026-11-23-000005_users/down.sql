DROP TABLE billy.users;
