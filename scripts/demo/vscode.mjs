// `npm run demo -- --vscode`: real VS Code (code-server) in the browser on
// 127.0.0.1:8080, with the packaged extension installed and a workspace whose
// settings point it at the demo's engine. Uses scripts/codeServer.mjs, as the
// end-to-end tests do.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  codeServerMissing, installExtension, packageVsix, root, startCodeServer, vsixIsCurrent, writeUserSettings,
} from '../codeServer.mjs';

/** Installs what is missing, then serves VS Code; resolves to { url, stop }. */
export async function startVsCode({ home, container, demoDir, port, log }) {
  if (codeServerMissing()) {
    log('installing code-server 4.100.3 and Chromium for VS Code in the browser (scripts/e2e-setup.sh)');
    const r = spawnSync('bash', [path.join(root, 'scripts', 'e2e-setup.sh')], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error('scripts/e2e-setup.sh failed');
  }
  const vsix = path.join(root, 'slipstream.vsix');
  if (!vsixIsCurrent(vsix)) {
    log('packaging the extension (slipstream.vsix)');
    packageVsix(vsix);
  }
  const dir = path.join(demoDir, 'vscode');
  const userDataDir = path.join(dir, 'user-data');
  const extensionsDir = path.join(dir, 'extensions');
  const folder = path.join(dir, 'employees-app');
  log(`installing slipstream.vsix into code-server (${path.relative(root, extensionsDir)})`);
  installExtension({ vsix, userDataDir, extensionsDir });
  writeUserSettings(userDataDir, {
    'workbench.startupEditor': 'readme',
    'telemetry.telemetryLevel': 'off',
    'remote.autoForwardPorts': false,
    // The workspace lives in .demo/ inside this repository: do not offer to open the repository around it.
    'git.openRepositoryInParentFolders': 'never',
    'slipstream.nodePath': process.execPath,
  });
  fs.mkdirSync(path.join(userDataDir, 'Machine'), { recursive: true });
  fs.writeFileSync(path.join(userDataDir, 'Machine', 'settings.json'), JSON.stringify({ 'slipstream.nodePath': process.execPath }, null, 2));
  writeWorkspace(folder, home, container);
  const server = await startCodeServer({
    port, userDataDir, extensionsDir, folder, logFile: path.join(dir, 'code-server.log'), env: { SLIPSTREAM_HOME: '' },
  });
  return { url: `${server.url}?folder=${encodeURIComponent(folder)}`, stop: server.stop };
}

/** A small workspace: settings naming the demo's engine, slipstream.json, the SQL it comes from, a README. */
function writeWorkspace(folder, home, container) {
  fs.mkdirSync(path.join(folder, '.vscode'), { recursive: true });
  fs.mkdirSync(path.join(folder, 'db'), { recursive: true });
  fs.copyFileSync(path.join(root, 'test', 'fixtures', 'employees.sql'), path.join(folder, 'db', 'employees.sql'));
  fs.writeFileSync(path.join(folder, '.vscode', 'settings.json'), `${JSON.stringify({ 'slipstream.engine': home }, null, 2)}\n`);
  fs.writeFileSync(path.join(folder, 'slipstream.json'),
    `${JSON.stringify({ template: { name: 'employees', source: { kind: 'sql', files: ['db/employees.sql'] } }, container }, null, 2)}\n`);
  fs.writeFileSync(path.join(folder, 'README.md'), `# Slipstream demo workspace

This folder's settings point Slipstream at the demo's engine (\`${home}\`), and
\`slipstream.json\` names the container \`${container}\` made from template \`employees\`.

- Open the **Slipstream** view in the activity bar: containers, branches, bookmarks.
- Right-click \`${container}\` → **Bookmark…**, delete employees in the app on
  http://127.0.0.1:1080, then right-click the bookmark → **Restore…**.
- Click the status bar item (\`${container}: main\`) to switch branches.
- **Slipstream: Open Timeline** draws the container's history.
- A new terminal has \`DATABASE_URL\` and \`PG*\` set to the container.
`);
}
