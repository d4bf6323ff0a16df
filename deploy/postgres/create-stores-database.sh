#!/usr/bin/env bash
# The stores' own role and database in the compose PostgreSQL (compose service `stores-database`).
# Idempotent, and runs on every `up`, so it also works on a volume initialised before the stores
# moved to PostgreSQL (the image's initdb.d scripts run only on a new volume) and re-applies the
# password after the secret is rotated. The role owns only its database; it is not Temporal's.
set -euo pipefail
export STORES_DB_PASSWORD_FILE="${STORES_DB_PASSWORD_FILE:-/run/secrets/complaints_db_password}"
[ -s "$STORES_DB_PASSWORD_FILE" ] || { echo "the complaints_db_password secret is empty or missing ($STORES_DB_PASSWORD_FILE)" >&2; exit 1; }
until pg_isready -q; do sleep 1; done
# The password is read by psql itself (\set with backticks), so it is in no argv or environment.
psql -v ON_ERROR_STOP=1 --no-psqlrc <<'SQL'
\set password `cat "$STORES_DB_PASSWORD_FILE"`
SELECT 'CREATE ROLE complaints LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'complaints')
\gexec
ALTER ROLE complaints WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'password';
SELECT 'CREATE DATABASE complaints OWNER complaints' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'complaints')
\gexec
REVOKE ALL ON DATABASE complaints FROM PUBLIC;
SQL
echo "stores database ready: complaints@postgresql/complaints"
