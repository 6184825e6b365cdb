#!/usr/bin/env node
/** The `slipstream` executable (dist/cli.js): the CLI, and the engine daemon behind `engine run`. */
import { main } from './main';

// `slipstream bookmark list | head -1` closes stdout early; that is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`slipstream: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
