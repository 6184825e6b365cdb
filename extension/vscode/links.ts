/**
 * Bookmark links arriving from outside (a click in a pull request opens
 * `vscode://slipstream.slipstream/bookmark?…`), and the team engine's token.
 * The flow itself is commands/links.ts; this only adapts VS Code to it.
 */
import * as vscode from 'vscode';
import { isParseError, normalizeEngineUrl, parseEngineUrl } from '../../server/common/address';
import { hideSecrets } from '../../server/common/redact';
import { runCommand } from '../commands';
import type { Session } from '../commands/session';
import type { EngineConnection } from '../engine/connection';
import { connectToTeamEngine } from '../engine/switch';
import { userMessage } from '../model/errors';

/** The URI handler (`onUri` activation): every /bookmark link runs "Open Bookmark Link" with it. */
export function registerLinkHandler(session: Session, log: (line: string) => void): vscode.Disposable {
  return vscode.window.registerUriHandler({
    handleUri(uri: vscode.Uri): void {
      // uri.query is decoded; re-encode it so the shared parser sees the link as it was written.
      const text = `${uri.scheme}://${uri.authority}${uri.path}?${new URLSearchParams(uri.query).toString()}`;
      log(`opened from outside: ${hideSecrets(text)}`); // a link never carries a token, but a pasted one might
      void runCommand(session, 'slipstream.bookmark.openLink', text, log);
    },
  });
}

const tokenKey = (url: string) => `slipstream.token:${normalizeEngineUrl(url)}`;

/** Team engine tokens in SecretStorage, and switching this window to a team engine. */
export class EngineSwitcher {
  connection!: EngineConnection;

  constructor(private readonly secrets: vscode.SecretStorage) {}

  token(url: string): Promise<string | undefined> {
    return Promise.resolve(this.secrets.get(tokenKey(url)));
  }

  connect(url: string, token: string) {
    const config = () => vscode.workspace.getConfiguration('slipstream');
    return connectToTeamEngine(this.connection, url, token, {
      tlsCa: config().get<string>('tlsCa'),
      saveToken: (u, t) => Promise.resolve(this.secrets.store(tokenKey(u), t)),
      saveSetting: async (u) => {
        const inspect = config().inspect<string>('engine');
        const where = inspect?.workspaceFolderValue !== undefined ? vscode.ConfigurationTarget.WorkspaceFolder
          : inspect?.workspaceValue !== undefined ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
        if (config().get<string>('engine') !== u) await config().update('engine', u, where);
      },
    });
  }

  /** "Slipstream: Set Engine Token…": the team engine's address (when the setting has none) and the user's token. */
  async setTokenCommand(session: Session): Promise<boolean> {
    const ui = session.ui;
    try {
      const current = this.connection.target;
      const url = current.kind === 'remote' ? current.url : await ui.input({
        title: 'Connect to a team engine',
        prompt: 'The team engine’s address: tcp://HOST:PORT or tls://HOST:PORT (slipstream.engine is set to it)',
        placeholder: 'tcp://team-host:7370',
        required: true,
      });
      if (!url) return false;
      const parsed = parseEngineUrl(url.trim());
      if (isParseError(parsed)) {
        ui.error(parsed.error);
        return false;
      }
      const token = await ui.input({
        title: `Token for ${normalizeEngineUrl(url)}`,
        prompt: 'Your token on the team engine (an admin makes one with: slipstream user add NAME). It is kept in VS Code’s secret storage.',
        password: true,
        required: true,
      });
      if (!token) return false;
      const status = await this.connect(url, token);
      ui.info(`Connected to the team engine at ${normalizeEngineUrl(url)} as ${status.user}.`);
      return true;
    } catch (err) {
      ui.error(userMessage(err));
      return false;
    }
  }
}
