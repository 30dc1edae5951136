"""Triggers that run in Airflow's triggerer: they wait without holding a worker slot."""
