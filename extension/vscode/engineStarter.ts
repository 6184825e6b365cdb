import * as vscode from 'vscode';
import { findNode, startLocalEngine } from '../engine/launcher';

/**
 * How this window starts a local engine: the bundled dist/cli.js of the
 * installed extension, run by a real Node.js, `engine start --home H`. The
 * daemon outlives the window, so other windows (and a reload) share it.
 */
export function engineStarter(context: vscode.ExtensionContext, log: (line: string) => void): (home: string) => Promise<unknown> {
  return async (home) => {
    const config = vscode.workspace.getConfiguration('slipstream');
    const node = findNode({
      setting: config.get<string>('nodePath'),
      pathEnv: process.env.PATH,
      execPath: process.execPath,
      electron: Boolean(process.versions.electron),
    });
    if (!node.ok) throw new Error(node.message);
    const driver = config.get<string>('driver', 'auto');
    const cli = context.asAbsolutePath('dist/cli.js');
    log(`starting the engine: ${node.node} (from ${node.why}) ${cli} --home ${home} engine start${driver !== 'auto' ? ` --driver ${driver}` : ''}`);
    const status = await startLocalEngine({ node: node.node, cli, home, args: driver !== 'auto' ? ['--driver', driver] : [] });
    log(`engine started: pid ${status.pid}, ${status.driver} driver, PostgreSQL ${status.postgres}`);
    return status;
  };
}
