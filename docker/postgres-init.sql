-- Run once by the postgres image on an empty data directory: the ledger gets its own database and user, apart
-- from Airflow's metadata.
CREATE USER filepool WITH PASSWORD 'filepool';
CREATE DATABASE filepool OWNER filepool;
