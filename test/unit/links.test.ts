import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bookmarkMarkdown, buildBookmarkLink, LinkError, parseBookmarkLink } from '../../server/common/links';

const id = 'bm_0123456789ab';

test('a built link parses back to the same bookmark and engine', () => {
  for (const engine of ['tcp://team.example.com:7370', 'tls://10.0.0.5:443', 'tcp://[::1]:7370', 'eng_a1b2c3d4e5f6']) {
    const link = buildBookmarkLink({ scheme: 'vscode', extensionId: 'Slipstream.slipstream', engine, bookmarkId: id });
    assert.match(link, /^vscode:\/\/slipstream\.slipstream\/bookmark\?engine=/);
    assert.deepEqual(parseBookmarkLink(link), { bookmarkId: id, engine });
  }
});

test('a bare id is accepted, with surrounding space', () => {
  assert.deepEqual(parseBookmarkLink(`  ${id}\n`), { bookmarkId: id });
});

test('bad links are refused with a reason', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /neither/],
    ['hello', /neither/],
    ['bm_123', /neither/],
    ['vscode://slipstream.slipstream/other?engine=eng_a1b2c3d4e5f6&id=' + id, /not a Slipstream bookmark link/],
    ['vscode://slipstream.slipstream/bookmark?engine=eng_a1b2c3d4e5f6&id=bm_zz', /not a bookmark id/],
    ['vscode://slipstream.slipstream/bookmark?id=' + id, /not an engine/],
    ['vscode://slipstream.slipstream/bookmark?engine=http%3A%2F%2Fevil&id=' + id, /not an engine/],
    ['vscode://slipstream.slipstream/bookmark?engine=tcp%3A%2F%2Fh%3A1&id=' + id + '&token=secret', /credentials/],
    ['vscode://user:pw@slipstream.slipstream/bookmark?engine=tcp%3A%2F%2Fh%3A1&id=' + id, /credentials/],
  ];
  for (const [text, reason] of cases) {
    assert.throws(() => parseBookmarkLink(text), (err: Error) => err instanceof LinkError && reason.test(err.message), text);
  }
});

test('building refuses what parsing would refuse', () => {
  assert.throws(() => buildBookmarkLink({ scheme: 'vscode', extensionId: 'a.b', engine: 'tcp://h:1?token=x', bookmarkId: id }), LinkError);
  assert.throws(() => buildBookmarkLink({ scheme: 'vscode', extensionId: 'a.b', engine: 'eng_a1b2c3d4e5f6', bookmarkId: 'x' }), LinkError);
});

test('the Markdown line escapes the name', () => {
  assert.equal(bookmarkMarkdown('Bug [1234] data', 'vscode://x/bookmark?id=1'),
    '🔖 Data for this bug: [Bug \\[1234\\] data](vscode://x/bookmark?id=1)');
});

test('a refused link never echoes a secret it carries (issue 10)', () => {
  const token = 'slp_' + 'S3cr3t-T0ken_'.repeat(3).slice(0, 43);
  const cases = [
    token, // the token pasted where a link was expected
    `vscode://slipstream.slipstream/bookmark?engine=${encodeURIComponent(`tcp://${token}@team:7370`)}&id=${id}`,
    `vscode://slipstream.slipstream/bookmark?engine=${encodeURIComponent(`tcp://admin:${token}@team:7370`)}&id=${id}`,
    `vscode://slipstream.slipstream/bookmark?engine=${encodeURIComponent(`tcp://team:7370?token=${token}`)}&id=${id}`,
    `vscode://slipstream.slipstream/bookmark?engine=eng_a1b2c3d4e5f6&id=${token}`,
    `tcp://admin:${token}@team:7370`,
    `not a link, password=${token.slice(4)}`,
    `vscode://slipstream.slipstream/bookmark?engine=${token}&id=${id}`,
  ];
  for (const text of cases) {
    assert.throws(() => parseBookmarkLink(text), (err: Error) => {
      assert.ok(err instanceof LinkError, String(err));
      assert.ok(!err.message.includes(token.slice(4, 20)), `the secret is echoed: ${err.message}`);
      return true;
    }, text);
  }
  // What is not secret is still shown, so the user can see what went wrong.
  assert.throws(() => parseBookmarkLink('hello'), /"hello" is neither/);
});

test('links carry the canonical engine URL, so equal strings mean the same engine (issue 14)', () => {
  const link = buildBookmarkLink({ scheme: 'vscode', extensionId: 'a.b', engine: 'TCP://Team.Example:7370/', bookmarkId: id });
  assert.match(link, /engine=tcp%3A%2F%2Fteam\.example%3A7370&/);
  assert.deepEqual(parseBookmarkLink(link), { bookmarkId: id, engine: 'tcp://team.example:7370' });
  const typed = `vscode://slipstream.slipstream/bookmark?engine=${encodeURIComponent('TLS://[::1]:7370/')}&id=${id}`;
  assert.deepEqual(parseBookmarkLink(typed), { bookmarkId: id, engine: 'tls://[::1]:7370' });
  for (const [engine, why] of [['tcp://h:0', /port 0 is out of range/], ['tcp://h:65536', /port 65536 is out of range/], ['tcp://[zz]:1', /is not an IPv6 address/]] as const) {
    const text = `vscode://slipstream.slipstream/bookmark?engine=${encodeURIComponent(engine)}&id=${id}`;
    assert.throws(() => parseBookmarkLink(text), (err: Error) => err instanceof LinkError && /is not an engine/.test(err.message) && why.test(err.message), engine);
  }
});

test('a link can name the remote the bookmark was pushed to, and never its credentials (issue 15)', () => {
  const remote = { url: 's3://team-bucket/slipstream/qa/', endpoint: 'http://127.0.0.1:9000' };
  const link = buildBookmarkLink({ scheme: 'vscode', extensionId: 'a.b', engine: 'tcp://team:7370', bookmarkId: id, remote });
  assert.deepEqual(parseBookmarkLink(link), { bookmarkId: id, engine: 'tcp://team:7370', remote });
  const aws = { url: 's3://team-bucket/' };
  assert.deepEqual(parseBookmarkLink(buildBookmarkLink({ scheme: 'vscode', extensionId: 'a.b', engine: 'eng_a1b2c3d4e5f6', bookmarkId: id, remote: aws })).remote, aws);
  const base = `vscode://a.b/bookmark?engine=eng_a1b2c3d4e5f6&id=${id}`;
  const cases: Array<[string, RegExp]> = [
    [`${base}&remote=${encodeURIComponent('s3://B/x/')}`, /not a remote location/],
    [`${base}&remote=${encodeURIComponent('s3://bucket/../x/')}`, /not a remote location/],
    [`${base}&remote=${encodeURIComponent('http://bucket/')}`, /not a remote location/],
    [`${base}&remote=${encodeURIComponent('s3://bucket/')}&endpoint=${encodeURIComponent('http://k:s@h:9000')}`, /credentials/],
    [`${base}&remote=${encodeURIComponent('s3://bucket/')}&endpoint=${encodeURIComponent('http://h:9000/path')}`, /not an endpoint/],
    [`${base}&remote=${encodeURIComponent('s3://bucket/')}&endpoint=${encodeURIComponent('file:///etc')}`, /not an endpoint/],
    [`${base}&endpoint=${encodeURIComponent('http://h:9000')}`, /endpoint but no remote/],
  ];
  for (const [text, reason] of cases) {
    assert.throws(() => parseBookmarkLink(text), (err: Error) => err instanceof LinkError && reason.test(err.message), text);
  }
});
