/**
 * Data set up the way an admin or a teammate would, through the real CLI,
 * before VS Code opens: an engine, the employees template, containers,
 * branches and bookmarks.
 */
import * as path from 'path';
import { FIXTURES, type TestEngine } from '../../support/engine';
import type { E2eRun } from './session';

/** A local engine on a fresh home (blocks driver), with the employees template. */
export function employeesEngine(run: E2eRun, name = 'local'): { home: string; engine: TestEngine } {
  const home = run.engineHome(name);
  const engine = run.engine(home);
  engine.ok('engine', 'start', '--driver', 'blocks');
  engine.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
  return { home, engine };
}

export async function count(engine: TestEngine, container: string, where = 'true'): Promise<number> {
  const [row] = await engine.sql<{ n: string }>(container, `SELECT count(*) AS n FROM employees WHERE ${where}`);
  return Number(row.n);
}
