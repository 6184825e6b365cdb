/**
 * The one rule for hiding secrets in text that is shown or logged: errors,
 * progress lines, source descriptions, tooltips, tables, the engine log.
 * Errors end up in notifications, terminals, CI logs and bug reports, so they
 * must never carry a secret: a token pasted where a link belonged, a password
 * in a URL's user info or query, a source database's password echoed by
 * pg_dump or by a seeding command.
 *
 * There used to be four copies (here, the engine's sources/tools.ts, the CLI's
 * template table, the extension's template tooltip), masking different things
 * with different marks (`…`, `****`, `***`). They are one now: every secret
 * becomes MASK, and the union of what they hid is hidden.
 */

/** What a hidden secret is replaced with. */
export const MASK = '****';

const USER_INFO = /(\b[a-z][a-z0-9+.-]*:\/\/)([^\s/@]*)@/gi;
/** The same inside a percent-encoded URL (an engine URL in a link's query). */
const ENCODED_USER_INFO = /(\b[a-z][a-z0-9+.-]*%3a%2f%2f)((?:[^\s/@%&]|%(?!40)[0-9a-f]{2})*)(%40|@)/gi;
const NAMED_PARAM = /((?:^|[?&#\s;]|%26|%3f)(?:token|password|passwd|pwd|secret|key|auth)(?:=|%3d))[^&\s]*/gi;
const TOKEN = /slp_[A-Za-z0-9_-]*/g;

/**
 * `text` with every secret in it replaced by MASK:
 * - each of `literals` (say, the password a child process was given), as
 *   written and percent-encoded;
 * - Slipstream tokens (`slp_…`), wherever they appear;
 * - the password in a URL's user info (`postgres://app:****@db/prod`: the user
 *   name stays, it helps and is no secret); user info without a password is
 *   hidden whole (`https://****@host`), since that is where tokens go;
 * - the values of token=, password=, passwd=, pwd=, secret=, key= and auth=.
 */
export function hideSecrets(text: string, literals: readonly string[] = []): string {
  let out = text;
  for (const secret of literals) {
    if (!secret) continue;
    for (const form of new Set([secret, encodeURIComponent(secret)])) out = out.split(form).join(MASK);
  }
  return out
    .replace(TOKEN, `slp_${MASK}`)
    .replace(USER_INFO, (_, scheme: string, info: string) => `${scheme}${maskUserInfo(info, ':')}@`)
    .replace(ENCODED_USER_INFO, (_, scheme: string, info: string, at: string) => `${scheme}${maskUserInfo(info, '%3a')}${at}`)
    .replace(NAMED_PARAM, `$1${MASK}`);
}

function maskUserInfo(info: string, separator: string): string {
  const at = info.toLowerCase().indexOf(separator);
  return at < 0 ? MASK : `${info.slice(0, at + separator.length)}${MASK}`;
}
