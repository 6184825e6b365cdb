/**
 * Bookmark links: `<scheme>://<publisher>.<name>/bookmark?engine=…&id=…`.
 * Only the builder exists so far (the timeline's "Copy link"). The parser, the
 * URI handler and "Open bookmark link…" belong next to it (issue 5), so that
 * building and parsing are tested as a round trip in one place.
 */
export interface BookmarkLinkParts {
  /** vscode.env.uriScheme: vscode, vscode-insiders, code-oss… */
  scheme: string;
  /** The extension id, publisher.name. */
  extensionId: string;
  /** The engine that holds the bookmark: its stable engine id for a local engine, its URL for a team engine. Never a token. */
  engine: string;
  id: string;
}

export function buildBookmarkLink(parts: BookmarkLinkParts): string {
  const query = new URLSearchParams({ engine: parts.engine, id: parts.id });
  return `${parts.scheme}://${parts.extensionId}/bookmark?${query.toString()}`;
}
