/**
 * Server settings the engine fixes, because a bookmark that changes hands must
 * carry data, not authority. postgresql.conf and postgresql.auto.conf live in
 * the data directory, so they travel with every bookmark, and anything set
 * there runs as the OS user of whoever loads it. The command line (`-c`) beats
 * both files and `ALTER SYSTEM`; only per-role and per-database settings
 * (pg_db_role_setting, also data) and a session's own SET beat it, so the
 * settings a session can set are also removed from foreign data (sanitise.ts)
 * and passed by the engine's own connections (SESSION_OPTIONS).
 *
 * Checked against PostgreSQL 18's `postgres --describe-config`: every setting
 * that names a program, a library, a file or a directory is here or is
 * harmless as the container's own OS user (data_directory, hba_file and
 * unix_socket_directories are set by cluster.start; ident_file and
 * krb_server_keyfile are unused because pg_hba.conf allows only trust on the
 * private socket and scram-sha-256 on TCP).
 */
export const SERVER_FIXED: ReadonlyArray<readonly [string, string]> = [
  // Programs the server runs by itself: archiving would copy the WAL wherever the
  // command says, and the recovery commands run on a restore.
  ['archive_mode', 'off'],
  ['archive_command', ''],
  ['archive_library', ''],
  ['restore_command', ''],
  ['archive_cleanup_command', ''],
  ['recovery_end_command', ''],
  // Code loaded into the server: any shared library runs as the container's OS user.
  // jit_provider is a file name under $libdir that may contain "../".
  ['shared_preload_libraries', ''],
  ['session_preload_libraries', ''],
  ['local_preload_libraries', ''],
  ['oauth_validator_libraries', ''],
  ['dynamic_library_path', '$libdir'],
  ['extension_control_path', '$system'],
  ['jit_provider', 'llvmjit'],
  // TLS: ssl_passphrase_command is a program, and a certificate with its key in someone
  // else's bookmark is theirs. The databases speak plain TCP (docs/security.md).
  ['ssl', 'off'],
  ['ssl_passphrase_command', ''],
  // Files written where others may read them: logs go to the root-owned runtime
  // directory through stderr. (external_pid_file is fixed too, per cluster, to the
  // container's own socket folder: cluster.start.)
  ['logging_collector', 'off'],
  ['log_destination', 'stderr'],
  // Tablespaces are directories outside the volume: new tables must not follow a
  // default that someone else chose into a place they can read.
  ['default_tablespace', ''],
  ['temp_tablespaces', ''],
  // What the engine's own online backups need (backup.ts): WAL fit for a base backup,
  // and room for the temporary slot that holds it. Data that says otherwise would only
  // make its bookmarks stop the database.
  ['wal_level', 'replica'],
  ['max_replication_slots', '10'],
];

/** The `-o` options that fix SERVER_FIXED on the server's command line, with the engine's own
 *  values for some of them (walArchive.ts: archiving and replay are the engine's to turn on). */
export function serverOptions(own: ReadonlyArray<readonly [string, string]> = []): string[] {
  const values = new Map([...SERVER_FIXED, ...own]);
  return [...values].map(([name, value]) => `-c ${name}=${quoteOption(value)}`);
}

/**
 * Settings a role or database may carry in pg_db_role_setting that would load code
 * or redirect files for whoever logs in. Foreign data loses them (sanitise.ts).
 */
export const ROLE_SETTINGS_REMOVED: readonly string[] = [
  'session_preload_libraries', 'local_preload_libraries', 'dynamic_library_path', 'extension_control_path',
  'default_tablespace', 'temp_tablespaces',
  // Whoever logs in would act as this role from the first statement on.
  'role',
];

/**
 * Startup options for the engine's own connections. A client's startup options beat
 * role and database settings, so whatever the data says, the engine's session loads
 * no library, fires no event trigger (a planted login trigger could run code in, or
 * block, the engine's session), resolves names in pg_catalog only, and can write.
 */
export const SESSION_OPTIONS = [
  '-c session_preload_libraries=', '-c local_preload_libraries=', '-c dynamic_library_path=$libdir',
  '-c event_triggers=off', '-c search_path=pg_catalog', '-c default_transaction_read_only=off',
  '-c statement_timeout=0', '-c lock_timeout=0', '-c idle_in_transaction_session_timeout=0',
  '-c transaction_timeout=0', '-c role=none',
].join(' ');

/** pg_ctl hands -o to /bin/sh, so each value is single-quoted: `$libdir` stays literal
 *  and an empty value is still an argument. The values above hold no quote, nor do the
 *  engine's own (walArchive.ts checks its paths). */
function quoteOption(value: string): string {
  if (value.includes("'")) throw new Error(`fixed setting value ${value} must not contain a quote`);
  return `'${value}'`;
}
