-- One database per service (each service owns its own).
CREATE DATABASE gateway;
CREATE DATABASE identity;
CREATE DATABASE team;
CREATE DATABASE licensing;
