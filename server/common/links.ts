/**
 * Bookmark links, built and parsed side by side (as vscode-pull-request-github's
 * common/uri.ts does), so the two cannot drift apart. A link names the bookmark
 * and the engine that holds it, never a token:
 *
 *   vscode://slipstream.slipstream/bookmark?engine=tcp%3A%2F%2Fhost%3A7370&id=bm_0123456789ab
 *
 * `engine` is a team engine's tcp:// or tls:// URL (address.ts, in its canonical
 * form, so that equal strings mean the same engine), or a local engine's id (eng_…).
 *
 * A link can also name a remote the bookmark was pushed to (issue 15): its location,
 * `remote=s3://BUCKET/PREFIX/`, and for a store other than AWS `endpoint=http(s)://HOST:PORT`.
 * Another engine opens such a link by pulling the bookmark from its own remote of that
 * location, with its own credentials: the link never carries any, and a link cannot make an
 * engine reach a store it was not told about.
 */
import { formatEngineUrl, isParseError, parseEngineUrl } from './address';
import { hideSecrets } from './redact';

export const BOOKMARK_LINK_PATH = '/bookmark';

export interface BookmarkLink {
  bookmarkId: string;
  /** Absent when the user pasted a bare bookmark id. */
  engine?: string;
  remote?: LinkRemote;
}

/** Where a remote is, as RemoteInfo says it: s3://BUCKET/PREFIX/ and, for other stores, the endpoint. */
export interface LinkRemote {
  url: string;
  endpoint?: string;
}

/** Does the link's remote name this remote (one of `remote list`)? */
export function sameRemote(a: LinkRemote, b: LinkRemote): boolean {
  return a.url === b.url && (a.endpoint ?? '') === (b.endpoint ?? '');
}

const BOOKMARK_ID = /^bm_[0-9a-f]{12}$/;
const ENGINE_ID = /^eng_[0-9a-f]{12}$/;

export class LinkError extends Error {}

export function buildBookmarkLink(opts: { scheme: string; extensionId: string; engine: string; bookmarkId: string; remote?: LinkRemote }): string {
  const engine = checkEngine(opts.engine);
  checkBookmarkId(opts.bookmarkId);
  const remote = opts.remote && checkRemote(opts.remote);
  const query = `engine=${encodeURIComponent(engine)}&id=${encodeURIComponent(opts.bookmarkId)}`
    + (remote ? `&remote=${encodeURIComponent(remote.url)}${remote.endpoint ? `&endpoint=${encodeURIComponent(remote.endpoint)}` : ''}` : '');
  return `${opts.scheme}://${opts.extensionId.toLowerCase()}${BOOKMARK_LINK_PATH}?${query}`;
}

/** The line to paste into a pull request or issue comment. */
export function bookmarkMarkdown(name: string, link: string): string {
  const label = name.replace(/[\\[\]()`*_]/g, (c) => `\\${c}`);
  return `🔖 Data for this bug: [${label}](${link})`;
}

/** A pasted link, or a bare bookmark id. Anything else is a LinkError that says what was expected. */
export function parseBookmarkLink(text: string): BookmarkLink {
  const input = text.trim();
  if (BOOKMARK_ID.test(input)) return { bookmarkId: input };
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new LinkError(`"${shorten(input)}" is neither a bookmark link nor a bookmark id (bm_ and 12 hex digits).`);
  }
  if (url.pathname !== BOOKMARK_LINK_PATH) throw new LinkError(`this link is not a Slipstream bookmark link (its path is ${url.pathname || '/'}).`);
  if (url.username || url.password || url.searchParams.has('token')) {
    throw new LinkError('this link carries credentials; bookmark links never do. Ask for a fresh link.');
  }
  const bookmarkId = url.searchParams.get('id') ?? '';
  checkBookmarkId(bookmarkId);
  const engine = checkEngine(url.searchParams.get('engine') ?? '');
  const remoteUrl = url.searchParams.get('remote');
  const endpoint = url.searchParams.get('endpoint');
  if (remoteUrl === null && endpoint !== null) throw new LinkError('this link has an endpoint but no remote.');
  const remote = remoteUrl === null ? undefined : checkRemote({ url: remoteUrl, ...(endpoint !== null ? { endpoint } : {}) });
  return { bookmarkId, engine, ...(remote ? { remote } : {}) };
}

/** A remote as a link carries it: s3://BUCKET/ or s3://BUCKET/PREFIX/, and an endpoint with
 *  no credentials, path or query (what `remote add` records). */
function checkRemote(r: LinkRemote): LinkRemote {
  if (!/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\/(?:[^/\u0000-\u001f\u007f\\]+\/)*$/.test(r.url) || /\/\.{1,2}\//.test(r.url)) {
    throw new LinkError(`"${shorten(r.url)}" is not a remote location: expected s3://BUCKET/PREFIX/.`);
  }
  if (r.endpoint === undefined) return { url: r.url };
  let u: URL;
  try {
    u = new URL(r.endpoint);
  } catch {
    throw new LinkError(`"${shorten(r.endpoint)}" is not an endpoint: expected http(s)://HOST[:PORT].`);
  }
  if (u.username || u.password) throw new LinkError('this link carries credentials; bookmark links never do. Ask for a fresh link.');
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.origin !== r.endpoint) {
    throw new LinkError(`"${shorten(r.endpoint)}" is not an endpoint: expected http(s)://HOST[:PORT].`);
  }
  return { url: r.url, endpoint: r.endpoint };
}

/** A team engine's URL, as opposed to a local engine's id. */
export function isEngineUrl(engine: string): boolean {
  return !isParseError(parseEngineUrl(engine));
}

function checkBookmarkId(id: string): void {
  if (!BOOKMARK_ID.test(id)) throw new LinkError(`"${shorten(id)}" is not a bookmark id (bm_ and 12 hex digits).`);
}

/** The engine as a link carries it: a local engine id, or the canonical engine URL. */
function checkEngine(engine: string): string {
  if (ENGINE_ID.test(engine)) return engine;
  const url = parseEngineUrl(engine);
  if (isParseError(url)) {
    const why = /^[a-z][a-z0-9+.-]*:\/\//i.test(engine) ? ` (${url.problem})` : '';
    throw new LinkError(`"${shorten(engine)}" is not an engine${why}: expected tcp://HOST:PORT, tls://HOST:PORT or a local engine id (eng_…).`);
  }
  return formatEngineUrl(url);
}

/** What an error may show of a refused value: short, and without any secret it carries. */
const shorten = (s: string) => {
  const shown = hideSecrets(s);
  return shown.length > 80 ? `${shown.slice(0, 77)}...` : shown;
};
