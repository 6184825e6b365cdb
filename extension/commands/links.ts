/**
 * Bookmark links (story 5): sharing one, and opening one. The link format is
 * built and parsed in one place, server/common/links.ts, shared with the CLI.
 * Opening a link never changes anything before the user has seen the bookmark
 * and said yes; a bad link, an unknown or private bookmark, or an engine that
 * cannot be reached ends with a message and nothing changed.
 */
import { hasErrorCode } from '../../server/common/client';
import { freeBranchName } from '../../server/common/freeNames';
import { bookmarkMarkdown, isEngineUrl, LinkError, parseBookmarkLink, sameRemote, type BookmarkLink, type LinkRemote } from '../../server/common/links';
import {
  BookmarkPullRequest,
  BookmarkShareRequest,
  BookmarkShowRequest,
  RemoteBookmarksRequest,
  RemoteListRequest,
  type RemoteInfo,
  BranchCreateRequest,
  BranchListRequest,
  ContainerListRequest,
  EngineStatusRequest,
  type BookmarkInfo,
  type BranchInfo,
  type ContainerInfo,
} from '../../server/protocol';
import type { ItemRef } from '../model/refs';
import { provision } from './containers';
import { answered, bookmarkOf, Dismissed } from './pickers';
import type { Session } from './session';

export const COPY_MARKDOWN = 'Copy Markdown';
export const BRANCH_AND_ACTIVATE = 'Branch and Activate';
export const CONNECT = 'Connect';
export const PROVISION = 'Provision Container';
export const CHECK_OUT = 'Check Out Commit';

export interface SharedLink {
  link: string;
  markdown: string;
  bookmark: BookmarkInfo;
}

/** Share bookmark link: shares the bookmark (a private one opens for nobody), copies its link, offers the Markdown line. */
export async function shareLink(s: Session, ref?: ItemRef): Promise<SharedLink> {
  const picked = await bookmarkOf(s, ref, 'Share a link to which bookmark?');
  if (!s.bookmarkLink) throw new Error('Bookmark links need a connected engine.');
  let bookmark = await s.engine.request(BookmarkShowRequest.type, { bookmark: picked.id });
  const wasShared = bookmark.shared;
  if (!bookmark.shared) bookmark = await s.engine.request(BookmarkShareRequest.type, { bookmark: bookmark.id });
  const link = s.bookmarkLink(bookmark.id);
  const markdown = bookmarkMarkdown(bookmark.name, link);
  await s.ui.copy(link);
  const shared = wasShared ? '' : ` It is now shared with everyone whose containers come from template ${bookmark.template}.`;
  // A notification, not a dialog: the link is already on the clipboard; the Markdown is one click away.
  void s.ui.choose(`Copied the link to bookmark ${bookmark.name}.${shared} Paste it in a pull request or issue, or copy a ready Markdown line.`, [COPY_MARKDOWN])
    .then((choice) => (choice === COPY_MARKDOWN ? s.ui.copy(markdown).then(() => s.ui.info('Copied the Markdown line.')) : undefined));
  return { link, markdown, bookmark };
}

export interface OpenedLink {
  bookmark: BookmarkInfo;
  branch: BranchInfo;
  container: string;
}

/**
 * Open bookmark link: from a URI (the handler passes it), a pasted link or a bare id.
 * Resolves undefined when the user stops at a question.
 */
export async function openBookmarkLink(s: Session, text?: string): Promise<OpenedLink | undefined> {
  const input = text ?? answered(await s.ui.input({
    title: 'Open bookmark link',
    prompt: 'Paste a Slipstream bookmark link (vscode://…/bookmark?engine=…&id=bm_…) or a bookmark id',
    placeholder: 'vscode://slipstream.slipstream/bookmark?engine=…&id=bm_…',
    required: true,
  }));
  let link: BookmarkLink;
  try {
    link = parseBookmarkLink(input);
  } catch (err) {
    if (err instanceof LinkError) throw new Error(`Not a bookmark link: ${err.message} Nothing was changed.`);
    throw err;
  }
  const remote = link.remote && !(await isThisEngine(s, link)) ? await remoteOf(s, link.remote) : undefined;
  const bm = remote ? await pullAfterYes(s, link.bookmarkId, remote) : await showAndAsk(s, link);
  if (!bm) return undefined;

  const container = await ownContainer(s, bm);
  if (!container) return undefined;
  const name = freeBranchName(bm.name, await branchNames(s, container.name));
  const branch = await s.ui.withProgress(`Branching ${name} from ${bm.name} in ${container.name}`, true, (report, signal) =>
    s.engine.request(BranchCreateRequest.type,
      { container: container.name, name, from: { kind: 'bookmark', bookmark: bm.id }, activate: true },
      { onProgress: report, signal }));
  if (s.workspaceContainer() !== container.name) await s.setWorkspaceContainer(container.name);
  s.ui.info(`Branch ${branch.name} of ${container.name} now holds the data of bookmark ${bm.name}, and is active (port ${container.port}, unchanged).`);

  if (bm.git?.commit && s.checkoutCommit) {
    const commit = bm.git.commit;
    void s.ui.choose(`Bookmark ${bm.name} was taken on git ${bm.git.branch ? `branch ${bm.git.branch}, ` : ''}commit ${commit.slice(0, 7)}. Check that commit out too?`, [CHECK_OUT])
      .then(async (choice) => {
        if (choice !== CHECK_OUT) return;
        try {
          await s.checkoutCommit!(commit);
          s.ui.info(`Checked out commit ${commit.slice(0, 7)} (detached HEAD).`);
        } catch (err) {
          s.ui.error(`git could not check out ${commit.slice(0, 7)}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)} (fetch it first, or commit or stash your changes).`);
        }
      });
  }
  return { bookmark: bm, branch, container: container.name };
}

/** The bookmark of a link to this engine (or one it can connect to), once the user said yes. */
async function showAndAsk(s: Session, link: BookmarkLink): Promise<BookmarkInfo | undefined> {
  if (!(await ensureEngine(s, link))) return undefined;
  const engineName = s.engineRef?.() ?? 'this engine';
  let bm: BookmarkInfo;
  try {
    bm = await s.engine.request(BookmarkShowRequest.type, { bookmark: link.bookmarkId });
  } catch (err) {
    if (hasErrorCode(err, 'NotFound', 'Forbidden')) {
      throw new Error(`Bookmark ${link.bookmarkId} was not found on ${engineName}: it was deleted, or it is private (its owner must share it first). Nothing was changed.`);
    }
    throw err;
  }
  const ok = await s.ui.choose(`Open bookmark "${bm.name}" by ${bm.owner}?`, [BRANCH_AND_ACTIVATE], { modal: true, detail: describeBookmark(bm) });
  return ok === BRANCH_AND_ACTIVATE ? bm : undefined;
}

/** A link to another engine's bookmark on a remote: show what the remote says of it, and once
 *  the user said yes, pull it into this engine (only the chunks it lacks). */
async function pullAfterYes(s: Session, bookmarkId: string, remote: RemoteInfo): Promise<BookmarkInfo | undefined> {
  const [info] = await s.engine.request(RemoteBookmarksRequest.type, { remote: remote.name, bookmark: bookmarkId });
  const ok = await s.ui.choose(`Open bookmark "${info.name}" by ${info.owner}?`, [BRANCH_AND_ACTIVATE], {
    modal: true, detail: `${describeBookmark({ ...info, template: `${info.template} v${info.templateVersion}` })}\n\nIt is pulled from remote ${remote.name} (${remote.url}) first.`,
  });
  if (ok !== BRANCH_AND_ACTIVATE) return undefined;
  const pulled = await s.ui.withProgress(`Pulling ${info.name} from ${remote.name}`, true, (report, signal) =>
    s.engine.request(BookmarkPullRequest.type, { bookmark: bookmarkId, remote: remote.name }, { onProgress: report, signal }));
  return pulled.bookmark;
}

/** This engine's remote of the link's location: it pulls with its own credentials. */
async function remoteOf(s: Session, where: LinkRemote): Promise<RemoteInfo> {
  const mine = (await s.engine.request(RemoteListRequest.type, {})).find((r) => sameRemote(r, where));
  if (mine) return mine;
  const add = `slipstream remote add NAME ${where.url}${where.endpoint ? ` --endpoint ${where.endpoint}` : ''}`;
  throw new Error(`This bookmark is on the remote ${where.url}${where.endpoint ? ` at ${where.endpoint}` : ''}, which this engine does not know. `
    + `Add it, with its AWS credentials in the engine's environment: ${add}. Nothing was changed.`);
}

async function isThisEngine(s: Session, link: BookmarkLink): Promise<boolean> {
  if (!link.engine || link.engine === s.engineRef?.()) return true;
  return !isEngineUrl(link.engine) && isConnectedEngine(s, link.engine);
}

/** What the confirmation shows: everything the reviewer needs to decide. */
export function describeBookmark(bm: Pick<BookmarkInfo, 'owner' | 'template' | 'container' | 'branch' | 'note' | 'tags' | 'git' | 'createdAt'>): string {
  return [
    `Owner: ${bm.owner}`,
    `Template: ${bm.template} (taken in ${bm.container}, branch ${bm.branch})`,
    bm.note ? `Note: ${bm.note}` : undefined,
    bm.tags.length ? `Tags: ${bm.tags.join(', ')}` : undefined,
    bm.git?.branch || bm.git?.commit ? `Git: ${[bm.git.branch, bm.git.commit?.slice(0, 12)].filter(Boolean).join(' @ ')}` : undefined,
    `Created: ${bm.createdAt}`,
    '',
    'A new branch is made from it in your own container and activated. Your other branches are kept; nothing you change reaches its owner.',
  ].filter((l) => l !== undefined).join('\n');
}

/** Makes sure this window talks to the engine the link names, offering to connect to a team engine. */
async function ensureEngine(s: Session, link: BookmarkLink): Promise<boolean> {
  const here = s.engineRef?.();
  if (!link.engine || link.engine === here) return true;
  if (!isEngineUrl(link.engine)) {
    if (await isConnectedEngine(s, link.engine)) return true;
    throw new Error(`This link is for the local engine ${link.engine}, not the engine this window uses (${here ?? 'none yet'}). `
      + 'If that engine runs on this machine, point the slipstream.engine setting at its home and open the link again; '
      + 'otherwise ask for a link to a team engine. Nothing was changed.');
  }
  if (!s.connectToEngine) throw new Error(`This link is for the team engine ${link.engine}. Nothing was changed.`);
  const choice = await s.ui.choose(`This bookmark is on the team engine ${link.engine}. Connect this window to it?`, [CONNECT], {
    modal: true,
    detail: `This window uses ${here ?? 'no engine yet'}. Connecting asks for your token on ${link.engine} (an admin makes one with "slipstream user add NAME").`,
  });
  if (choice !== CONNECT) return false;
  const token = answered(await s.ui.input({
    title: `Token for ${link.engine}`, prompt: `Your token on the team engine ${link.engine}`, password: true, required: true,
  }));
  await s.connectToEngine(link.engine, token);
  return true;
}

/** A link made over the engine host's Unix socket names the engine by id (eng_…), even
 *  when this window reaches that same engine over TCP. */
async function isConnectedEngine(s: Session, engineId: string): Promise<boolean> {
  try {
    return (await s.engine.request(EngineStatusRequest.type, {})).engineId === engineId;
  } catch {
    return false; // no engine answers: it is not this one, as far as we can tell
  }
}

/** The user's container from the bookmark's template: the workspace's, the only one, a pick, or a new one. */
async function ownContainer(s: Session, bm: BookmarkInfo): Promise<ContainerInfo | undefined> {
  const me = s.user();
  const all = (await s.engine.request(ContainerListRequest.type, {})).filter((c) => c.template === bm.template && (!me || c.owner === me));
  if (all.length === 0) {
    const go = await s.ui.choose(`You have no container made from template ${bm.template}. Provision one to open bookmark ${bm.name} in?`, [PROVISION], {
      modal: true, detail: 'A container is your own PostgreSQL on a port that never changes.',
    });
    if (go !== PROVISION) return undefined;
    return provision(s, { kind: 'template', template: bm.template });
  }
  const preferred = all.find((c) => c.name === s.workspaceContainer());
  if (preferred || all.length === 1) return preferred ?? all[0];
  const picked = await s.ui.pick(all.map((c) => ({ label: c.name, description: `active branch ${c.activeBranch} · port ${c.port}`, value: c })),
    { title: `Open ${bm.name} in which container?`, placeholder: `Your containers from template ${bm.template}` });
  if (!picked) throw new Dismissed();
  return picked;
}

/** The names of the container's branches, which a new branch's name must avoid. */
async function branchNames(s: Session, container: string): Promise<string[]> {
  return (await s.engine.request(BranchListRequest.type, { container })).map((b) => b.name);
}
