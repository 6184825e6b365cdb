/**
 * Everything the bench starts (engines, PostgreSQL clusters, loop mounts, temp
 * directories) registers how to undo it here. Undo runs last-in first-out, so
 * a cluster stops before the file system under it is unmounted, and it runs on
 * normal exit, on failure and on Ctrl-C alike.
 */
type Undo = { what: string; fn: () => Promise<void> | void };

const stack: Undo[] = [];
let running: Promise<void> | undefined;

/** Register an undo step; returns a function that runs it early (and unregisters it). */
export function onCleanup(what: string, fn: () => Promise<void> | void): () => Promise<void> {
  const undo: Undo = { what, fn };
  stack.push(undo);
  return async () => {
    const i = stack.indexOf(undo);
    if (i >= 0) stack.splice(i, 1);
    await fn();
  };
}

/** Run every registered step once, newest first; failures are reported, not thrown,
 *  so one stuck step never keeps a mount or a process alive. */
export function cleanupAll(): Promise<void> {
  running ??= (async () => {
    while (stack.length) {
      const undo = stack.pop()!;
      try {
        await undo.fn();
      } catch (err) {
        process.stderr.write(`cleanup: ${undo.what}: ${(err as Error).message}\n`);
      }
    }
  })();
  return running;
}

/** Ctrl-C and kill: clean up, then exit with the conventional status. An error nobody
 *  awaited (a half-finished step failing as clean-up pulls its server away) must not
 *  end the process before the mounts and loop devices are gone either. */
export function installSignalHandlers(): void {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: cleaning up engines, clusters, mounts and loop devices...\n`);
      void cleanupAll().finally(() => process.exit(code));
    });
  }
  const fatal = (err: unknown) => {
    process.stderr.write(`unexpected error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    void cleanupAll().finally(() => process.exit(1));
  };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
}
