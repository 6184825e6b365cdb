import type { Client } from 'pg';
import { SUPERUSER, withLocalClient, type ClusterSpec } from './cluster';
import { ROLE_SETTINGS_REMOVED } from './fixedSettings';

/**
 * Take the authority out of data that came from elsewhere (someone else's
 * bookmark, another container's, a template version) at its first start, while
 * only the engine can connect (cluster `sealed`). Whoever made that data was its
 * superuser and could leave behind roles that log in, settings that run
 * programs, and triggers that fire by themselves. Afterwards:
 * - only the container's own superuser can log in: every other role loses LOGIN, its
 *   password, SUPERUSER, REPLICATION and BYPASSRLS, and membership in the roles that
 *   run programs or read and write server files;
 * - role and database settings that load code or move files are gone (fixedSettings.ts);
 * - postgresql.auto.conf is empty (ALTER SYSTEM RESET ALL; the server writes it, as
 *   the container's user, so the engine does no file work in the data directory);
 * - every event trigger is disabled, in every database that takes connections.
 * Each statement is built here with quoted identifiers, not in PL/pgSQL: the data
 * decides what plpgsql is.
 */
export async function sanitise(spec: ClusterSpec): Promise<void> {
  const databases = await withLocalClient(spec, async (client) => {
    await stripRoles(client);
    await revokeServerAccess(client);
    await removeRoleSettings(client);
    await client.query('ALTER SYSTEM RESET ALL');
    return (await client.query(`SELECT datname FROM pg_catalog.pg_database WHERE datallowconn`)).rows.map((r) => String(r.datname));
  });
  for (const database of databases) await withLocalClient(spec, disableEventTriggers, database);
}

async function stripRoles(client: Client): Promise<void> {
  const { rows } = await client.query(`SELECT rolname, oid = 10 AS bootstrap FROM pg_catalog.pg_authid
    WHERE rolname OPERATOR(pg_catalog.<>) $1 AND rolname OPERATOR(pg_catalog.!~) '^pg_'`, [SUPERUSER]);
  for (const r of rows) {
    const role = client.escapeIdentifier(String(r.rolname));
    await client.query(`ALTER ROLE ${role} NOLOGIN PASSWORD NULL`);
    // The bootstrap superuser must stay one; it can only have been renamed.
    if (!r.bootstrap) await client.query(`ALTER ROLE ${role} NOSUPERUSER NOREPLICATION NOBYPASSRLS`);
  }
}

/** Code that runs as one of the data's roles (a trigger, an index expression under autovacuum)
 *  must not inherit the power to run programs or touch server files. */
async function revokeServerAccess(client: Client): Promise<void> {
  const { rows } = await client.query(`SELECT g.rolname AS granted, m.rolname AS member, b.rolname AS grantor
    FROM pg_catalog.pg_auth_members a
    JOIN pg_catalog.pg_authid g ON g.oid OPERATOR(pg_catalog.=) a.roleid
    JOIN pg_catalog.pg_authid m ON m.oid OPERATOR(pg_catalog.=) a.member
    JOIN pg_catalog.pg_authid b ON b.oid OPERATOR(pg_catalog.=) a.grantor
    WHERE m.rolname OPERATOR(pg_catalog.<>) $1
      AND (g.rolsuper OR g.rolname::text OPERATOR(pg_catalog.=) ANY ($2::text[]))`,
  [SUPERUSER, ['pg_execute_server_program', 'pg_read_server_files', 'pg_write_server_files']]);
  const id = (v: unknown) => client.escapeIdentifier(String(v));
  for (const r of rows) {
    await client.query(`REVOKE ${id(r.granted)} FROM ${id(r.member)} GRANTED BY ${id(r.grantor)} CASCADE`);
  }
}

async function removeRoleSettings(client: Client): Promise<void> {
  const { rows } = await client.query(`SELECT d.datname, r.rolname, pg_catalog.split_part(c, '=', 1) AS name
    FROM pg_catalog.pg_db_role_setting s
    CROSS JOIN LATERAL pg_catalog.unnest(s.setconfig) AS c
    LEFT JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) s.setdatabase
    LEFT JOIN pg_catalog.pg_authid r ON r.oid OPERATOR(pg_catalog.=) s.setrole
    WHERE pg_catalog.lower(pg_catalog.split_part(c, '=', 1)) OPERATOR(pg_catalog.=) ANY ($1::text[])`,
  [[...ROLE_SETTINGS_REMOVED]]);
  const id = (v: unknown) => client.escapeIdentifier(String(v));
  for (const r of rows) {
    const name = id(r.name);
    if (r.rolname === null) await client.query(`ALTER DATABASE ${id(r.datname)} RESET ${name}`);
    else if (r.datname === null) await client.query(`ALTER ROLE ${id(r.rolname)} RESET ${name}`);
    else await client.query(`ALTER ROLE ${id(r.rolname)} IN DATABASE ${id(r.datname)} RESET ${name}`);
  }
}

async function disableEventTriggers(client: Client): Promise<void> {
  const { rows } = await client.query(`SELECT evtname FROM pg_catalog.pg_event_trigger WHERE evtenabled OPERATOR(pg_catalog.<>) 'D'`);
  for (const r of rows) await client.query(`ALTER EVENT TRIGGER ${client.escapeIdentifier(String(r.evtname))} DISABLE`);
}
