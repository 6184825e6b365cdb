/**
 * How an engine's network address is written, in one place.
 *
 *   HOST:PORT                         `engine start --listen`
 *   tcp://HOST:PORT, tls://HOST:PORT  `--engine`, SLIPSTREAM_ENGINE, the
 *                                     `slipstream.engine` setting, bookmark links
 *
 * The CLI, the engine, the client, bookmark links and the extension each had a
 * regex of their own, and they disagreed: one accepted port 0 or 99999 that the
 * client then refused, links refused a trailing slash the CLI accepted, and the
 * extension lowercased a URL the CLI kept as typed, so a link made by the CLI
 * could name "another" engine. Now every side parses with this module and
 * compares the canonical form `formatEngineUrl` writes.
 *
 * Parsers return the value or `{ error }`: a sentence that says what was wrong
 * and what is expected, showing the refused text without any secret in it.
 */
import * as net from 'net';
import { hideSecrets } from './redact';

export const MIN_PORT = 1;
export const MAX_PORT = 65535;
/** A container's database port: ports below 1024 need root to bind, and the
 *  engine's PostgreSQL never runs as root, so the engine refuses them. The CLI
 *  refuses them too, before it asks the engine. */
export const MIN_CONTAINER_PORT = 1024;

export interface HostPort {
  /** A host name or an IP address; an IPv6 address without its brackets. */
  host: string;
  port: number;
}

export interface EngineUrl extends HostPort {
  /** tls:// rather than tcp://. */
  secure: boolean;
}

/** `error` is the whole sentence for a user; `problem` only what was wrong, for a
 *  caller that writes its own sentence around it. */
export interface ParseError { error: string; problem: string }
export type Parsed<T> = T | ParseError;

export function isParseError<T extends object>(value: Parsed<T>): value is ParseError {
  return 'error' in value;
}

const HOST_PORT_HINT = 'Use HOST:PORT, e.g. 0.0.0.0:7370, team-host:7370 or [::1]:7370';
const ENGINE_URL_HINT = 'Use tcp://HOST:PORT or tls://HOST:PORT, e.g. tcp://team-host:7370';

/** HOST:PORT. The host is a host name, an IPv4 address or a bracketed IPv6 address;
 *  the port is 1 to 65535 in digits. */
export function parseHostPort(text: string): Parsed<HostPort> {
  const problem = hostPortProblem(text);
  if (typeof problem === 'string') return { error: `${shown(text)} is not HOST:PORT: ${problem}. ${HOST_PORT_HINT}.`, problem };
  return problem;
}

/** tcp://HOST:PORT or tls://HOST:PORT, with at most one trailing slash. The scheme and
 *  host are case-insensitive (RFC 3986); `formatEngineUrl` writes them in lower case.
 *  A URL with a user name, password, path, query or fragment is refused: a token is
 *  never part of an engine's address. */
export function parseEngineUrl(text: string): Parsed<EngineUrl> {
  const fail = (problem: string): ParseError => ({ error: `${shown(text)} is not an engine URL: ${problem}. ${ENGINE_URL_HINT}.`, problem });
  if (text.trim() === '') return fail('it is empty');
  if (text !== text.trim()) return fail('it has spaces around it');
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s.exec(text);
  if (!m) return fail('it has no scheme (tcp:// or tls://)');
  const scheme = m[1].toLowerCase();
  if (scheme !== 'tcp' && scheme !== 'tls') return fail(`its scheme is ${m[1]}, not tcp or tls`);
  const rest = m[2].endsWith('/') ? m[2].slice(0, -1) : m[2];
  if (rest.includes('@')) return fail('it carries a user name or password, and a token is never part of an engine\'s address: give it on its own');
  if (/[/?#]/.test(rest)) return fail('it has a path, query or fragment after HOST:PORT');
  const hostPort = hostPortProblem(rest);
  if (typeof hostPort === 'string') return fail(hostPort);
  return { secure: scheme === 'tls', host: hostPort.host.toLowerCase(), port: hostPort.port };
}

/** The canonical form: lower case, IPv6 in brackets, no trailing slash. Links carry it,
 *  tokens are stored under it, and two URLs name the same engine when it is equal. */
export function formatEngineUrl(url: EngineUrl): string {
  return `${url.secure ? 'tls' : 'tcp'}://${formatHostPort(url)}`;
}

/** host:port, with an IPv6 host in brackets. */
export function formatHostPort(hp: HostPort): string {
  return `${hp.host.includes(':') ? `[${hp.host}]` : hp.host}:${hp.port}`;
}

/** Does the text mean a network engine (it starts with tcp:// or tls://, any case)?
 *  Such text is an engine URL, right or wrong, never a home directory. */
export function looksLikeEngineUrl(text: string): boolean {
  return /^(tcp|tls):\/\//i.test(text.trim());
}

/** The canonical form of a valid engine URL; other text comes back trimmed, so that
 *  connecting to it fails with parseEngineUrl's message. */
export function normalizeEngineUrl(text: string): string {
  const url = parseEngineUrl(text.trim());
  return isParseError(url) ? text.trim() : formatEngineUrl(url);
}

/** The problem with HOST:PORT text, or the parsed value. */
function hostPortProblem(text: string): string | HostPort {
  if (text === '') return 'it is empty';
  if (/\s/.test(text)) return 'it contains a space';
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0) return 'the [ of an IPv6 address is never closed with ]';
    host = text.slice(1, end);
    const after = text.slice(end + 1);
    if (!after.startsWith(':')) return after === '' ? 'it has no port (HOST:PORT)' : `"${after}" follows the ] where :PORT belongs`;
    portText = after.slice(1);
    if (!net.isIPv6(host)) return `[${host}] is not an IPv6 address`;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return 'it has no port (HOST:PORT)';
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) return 'an IPv6 address goes in brackets, as in [::1]:7370';
    const bad = hostProblem(host);
    if (bad) return bad;
  }
  const port = portProblem(portText);
  return typeof port === 'string' ? port : { host, port };
}

const LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$/;

function hostProblem(host: string): string | undefined {
  if (host === '') return 'the host is empty';
  if (host.length > 253) return 'the host name is longer than 253 characters';
  const labels = host.split('.');
  if (labels.every((l) => /^\d+$/.test(l)) && labels.length === 4) {
    return net.isIPv4(host) ? undefined : `${host} is not an IPv4 address (each part is 0 to 255)`;
  }
  if (!labels.every((l) => LABEL.test(l) && l.length <= 63)) {
    return `"${hideSecrets(host)}" is not a host name (letters, digits and hyphens, in parts between dots) or an IP address`;
  }
  return undefined;
}

function portProblem(text: string): string | number {
  if (text === '') return 'the port is empty';
  if (!/^\d+$/.test(text)) return `the port "${hideSecrets(text)}" is not a number`;
  const port = Number(text);
  if (port < MIN_PORT || port > MAX_PORT) return `port ${text.length > 8 ? `${text.slice(0, 8)}…` : text} is out of range (${MIN_PORT} to ${MAX_PORT})`;
  return port;
}

/** The refused text as an error may show it: quoted, short, without secrets. */
function shown(text: string): string {
  const safe = hideSecrets(text);
  return `"${safe.length > 80 ? `${safe.slice(0, 77)}...` : safe}"`;
}
