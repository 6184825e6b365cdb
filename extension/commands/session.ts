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
  /** Git context for new bookmarks: the workspace repository's branch, HEAD commit and remote. */
  gitContext?(): Promise<GitContext | undefined>;
  /** A shareable link to a bookmark on the connected engine (server/common/links.ts builds it). */
  bookmarkLink?(bookmarkId: string): string;
  /** What links call the connected engine: a team engine's URL, a local engine's id (eng_…). */
  engineRef?(): string | undefined;
  /**
   * Connects this window to another team engine with `token`. It first checks
   * that the engine answers and accepts the token; when it does not, it throws
   * a clear error and nothing (setting, stored token, connection) is changed.
   */
  connectToEngine?(url: string, token: string): Promise<void>;
  /** Checks out a commit in the workspace repository (through the git extension). */
  checkoutCommit?(commit: string): Promise<void>;
  /** Where command sources run, and relative paths resolve, when a template is created. */
  workspaceFolder(): string | undefined;
}
