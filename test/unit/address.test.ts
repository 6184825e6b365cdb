/** server/common/address.ts: HOST:PORT and engine URLs, the one parser every side uses (issue 14). */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import {
  formatEngineUrl,
  isParseError,
  looksLikeEngineUrl,
  normalizeEngineUrl,
  parseEngineUrl,
  parseHostPort,
  type Parsed,
} from '../../server/common/address';

function ok<T extends object>(parsed: Parsed<T>): T {
  if (isParseError(parsed)) assert.fail(parsed.error);
  return parsed;
}

function refused<T extends object>(parsed: Parsed<T>, pattern: RegExp): string {
  if (!isParseError(parsed)) assert.fail(`expected an error matching ${pattern}, got ${JSON.stringify(parsed)}`);
  assert.match(parsed.error, pattern);
  assert.ok(parsed.error.includes(parsed.problem), 'the sentence contains the problem');
  assert.doesNotMatch(parsed.error, /\n/);
  return parsed.error;
}

test('HOST:PORT: host names, IPv4 and bracketed IPv6, ports 1 to 65535', () => {
  assert.deepEqual(ok(parseHostPort('0.0.0.0:7370')), { host: '0.0.0.0', port: 7370 });
  assert.deepEqual(ok(parseHostPort('team-host.example.com:1')), { host: 'team-host.example.com', port: 1 });
  assert.deepEqual(ok(parseHostPort('localhost:65535')), { host: 'localhost', port: 65535 });
  assert.deepEqual(ok(parseHostPort('[::1]:7370')), { host: '::1', port: 7370 });
  assert.deepEqual(ok(parseHostPort('[::]:7370')), { host: '::', port: 7370 });
  assert.deepEqual(ok(parseHostPort('[fe80::1:2]:443')), { host: 'fe80::1:2', port: 443 });
});

test('HOST:PORT: every bad input is refused with what was wrong and what is expected', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /is not HOST:PORT: it is empty\. Use HOST:PORT, e\.g\. 0\.0\.0\.0:7370/],
    ['7370', /it has no port \(HOST:PORT\)/],
    ['team-host', /it has no port/],
    [':7370', /the host is empty/],
    ['host:', /the port is empty/],
    ['host:0', /port 0 is out of range \(1 to 65535\)/],
    ['host:65536', /port 65536 is out of range \(1 to 65535\)/],
    ['host:99999999999', /port 99999999… is out of range/],
    ['host:-1', /the port "-1" is not a number/],
    ['host:80x', /the port "80x" is not a number/],
    ['host:1e3', /the port "1e3" is not a number/],
    ['host:+80', /the port "\+80" is not a number/],
    ['host :80', /it contains a space/],
    [' host:80', /it contains a space/],
    ['::1:7370', /an IPv6 address goes in brackets, as in \[::1\]:7370/],
    ['[::1:7370', /the \[ of an IPv6 address is never closed/],
    ['[::1]', /it has no port/],
    ['[::1]7370', /"7370" follows the \] where :PORT belongs/],
    ['[team-host]:7370', /\[team-host\] is not an IPv6 address/],
    ['300.1.1.1:7370', /300\.1\.1\.1 is not an IPv4 address/],
    ['team_host:7370', /"team_host" is not a host name/],
    ['-team:7370', /"-team" is not a host name/],
    ['a..b:7370', /"a\.\.b" is not a host name/],
    ['team/x:7370', /"team\/x" is not a host name/],
    [`${'a'.repeat(254)}:1`, /longer than 253 characters/],
  ];
  for (const [text, pattern] of cases) refused(parseHostPort(text), pattern);
});

test('engine URLs: tcp:// and tls://, case-insensitive, one trailing slash, canonical form', () => {
  assert.deepEqual(ok(parseEngineUrl('tcp://team-host:7370')), { secure: false, host: 'team-host', port: 7370 });
  assert.deepEqual(ok(parseEngineUrl('tls://10.0.0.5:443/')), { secure: true, host: '10.0.0.5', port: 443 });
  assert.deepEqual(ok(parseEngineUrl('TLS://Team.Example:7420')), { secure: true, host: 'team.example', port: 7420 });
  assert.deepEqual(ok(parseEngineUrl('tcp://[::1]:7370')), { secure: false, host: '::1', port: 7370 });
  assert.equal(formatEngineUrl(ok(parseEngineUrl('TCP://Team.Example:07420/'))), 'tcp://team.example:7420');
  assert.equal(formatEngineUrl(ok(parseEngineUrl('tls://[FE80::1]:7370'))), 'tls://[fe80::1]:7370');
  assert.equal(normalizeEngineUrl(' TCP://Host:7370/ '), 'tcp://host:7370');
  assert.equal(normalizeEngineUrl('tcp://host'), 'tcp://host', 'what does not parse comes back trimmed, to fail on connect');
  assert.ok(looksLikeEngineUrl(' TLS://x'));
  assert.ok(!looksLikeEngineUrl('/home/u/.slipstream'));
  assert.ok(!looksLikeEngineUrl('http://x:1'));
});

test('engine URLs: every bad input is refused with what was wrong and what is expected', () => {
  const token = 'slp_' + 'S3cr3t'.repeat(8);
  const cases: Array<[string, RegExp]> = [
    ['', /is not an engine URL: it is empty\. Use tcp:\/\/HOST:PORT or tls:\/\/HOST:PORT/],
    [' tcp://h:1', /it has spaces around it/],
    ['team-host:7370', /it has no scheme \(tcp:\/\/ or tls:\/\/\)/],
    ['http://team:7370', /its scheme is http, not tcp or tls/],
    ['tcp://team', /it has no port/],
    ['tcp://team:0', /port 0 is out of range/],
    ['tcp://team:65536', /port 65536 is out of range/],
    ['tcp://team:70x', /the port "70x" is not a number/],
    ['tcp://:7370', /the host is empty/],
    ['tcp://team:7370//', /it has a path, query or fragment/],
    ['tcp://team:7370/x', /it has a path, query or fragment/],
    ['tcp://team:7370?token=abc', /it has a path, query or fragment/],
    ['tcp://team:7370#x', /it has a path, query or fragment/],
    ['tcp://admin:pw@team:7370', /carries a user name or password, and a token is never part of an engine's address: give it on its own/],
    ['tcp://::1:7370', /an IPv6 address goes in brackets/],
    ['tcp://te am:7370', /it contains a space/],
  ];
  for (const [text, pattern] of cases) refused(parseEngineUrl(text), pattern);
  // A refused URL never shows the token it carries.
  for (const text of [`tcp://admin:${token}@team:7370`, `tcp://${token}@team:7370`, `tcp://team:7370?token=${token}`, token]) {
    const error = refused(parseEngineUrl(text), /engine URL/);
    assert.ok(!error.includes(token.slice(4, 20)), `the token is echoed: ${error}`);
  }
});
