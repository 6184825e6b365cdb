import type { GitContext } from '../../server/protocol';
import type { Requester } from '../engine/connection';
import type { Ui } from './ui';

/**
 * Everything a command runs with. The vscode adapter builds one per window;
 * tests build one over a real engine and a scripted Ui.
 */
export interface Session {
  engine: Requester;
  ui: Ui;
  /** The connected engine's user name, to tell own bookmarks from others'. */
  user(): string | undefined;
  /** The container this workspace works in, when known (slipstream.json, the user's choice). */
  workspaceContainer(): string | undefined;
  /** Remembers the user's choice of container for this workspace. */
  setWorkspaceContainer(name: string | undefined): Promise<void>;
  /** Git context for new bookmarks. Filled in by the git link (issue 5); absent until then. */
  gitContext?(): Promise<GitContext | undefined>;
  /** A shareable link to a bookmark (the URI handler's counterpart, issue 5). */
  bookmarkLink?(bookmarkId: string): string;
  /** Where command sources run, and relative paths resolve, when a template is created. */
  workspaceFolder(): string | undefined;
}
