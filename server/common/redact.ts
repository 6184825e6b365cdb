/**
 * Text a user typed or pasted, made fit to show back in an error or a log.
 * Errors end up in notifications, terminals, CI logs and bug reports, so they
 * must never carry a secret the user sent by mistake: a token pasted where a
 * link belonged, a password in a URL's user info or query.
 */
const SECRETS: Array<[RegExp, string]> = [
  [/slp_[A-Za-z0-9_-]*/g, 'slp_…'], // Slipstream tokens, wherever they appear
  [/((?:[a-z][a-z0-9+.-]*)(?::|%3a)(?:\/\/|%2f%2f))[^\s/?#]*?(?:@|%40)/gi, '$1…@'], // scheme://user:password@
  [/((?:^|[?&#\s;]|%26|%3f)(?:token|password|passwd|pwd|secret|key|auth)(?:=|%3d))[^&#\s;%]*(?:%[0-9a-f]{2}[^&#\s;%]*)*/gi, '$1…'],
];

export function hideSecrets(text: string): string {
  return SECRETS.reduce((s, [pattern, replacement]) => s.replace(pattern, replacement), text);
}
