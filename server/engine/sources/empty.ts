/** The empty source: the freshly initdb'd `postgres` database is the template as it is. */
export async function loadEmpty(): Promise<void> {
  // Nothing to load.
}
