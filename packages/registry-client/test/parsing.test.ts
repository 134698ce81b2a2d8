import test from 'ava';
import { apiHost, backoffDelay, isLoopbackHost, mergeScopes, nextLink, parseChallenges, parseRetryAfter, parseDistributionErrors, errorFromResponse } from '@berth/registry-client';

test('WWW-Authenticate: bearer params, quoted commas, several challenges', (t) => {
  const chs = parseChallenges('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push", Basic realm="x"');
  t.is(chs.length, 2);
  t.is(chs[0]!.scheme, 'bearer');
  t.deepEqual(chs[0]!.params, { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push' });
  t.deepEqual(chs[1], { scheme: 'basic', params: { realm: 'x' } });
  t.deepEqual(parseChallenges(['Basic realm="Registry Realm"']), [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
  t.deepEqual(parseChallenges(undefined), []);
});

test('Retry-After: delay-seconds and HTTP-date', (t) => {
  t.is(parseRetryAfter('3'), 3000);
  const now = Date.parse('2026-01-01T00:00:00Z');
  t.is(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now), 5000);
  t.is(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now), 0);
  t.is(parseRetryAfter('soon'), undefined);
  t.is(parseRetryAfter(undefined), undefined);
  for (let a = 0; a < 6; a++) {
    const d = backoffDelay(a, 100, 1000);
    t.true(d >= Math.min(1000, 100 * 2 ** a) / 2 && d <= Math.min(1000, 100 * 2 ** a));
  }
});

test('scopes merge per resource, sorted (cross-repo mount widening)', (t) => {
  t.deepEqual(mergeScopes(['repository:b:push', 'repository:a:pull', 'repository:b:pull', 'repository:a:pull']),
    ['repository:a:pull', 'repository:b:pull,push']);
  t.deepEqual(mergeScopes(['repository:a:pull repository:b:pull,push']), ['repository:a:pull', 'repository:b:pull,push']);
});

test('Link header: rel="next"', (t) => {
  t.is(nextLink('</v2/_catalog?last=b&n=1>; rel="next"'), '/v2/_catalog?last=b&n=1');
  t.is(nextLink('<https://x/y?a=1>; rel="prev", </next?z=2>; rel="next"'), '/next?z=2');
  t.is(nextLink(undefined), undefined);
});

test('docker.io maps to registry-1.docker.io; loopback detection', (t) => {
  t.is(apiHost('docker.io'), 'registry-1.docker.io');
  t.is(apiHost('ghcr.io'), 'ghcr.io');
  for (const h of ['localhost:5000', '127.0.0.1', '127.8.9.10:443', '[::1]:5000', '::1']) t.true(isLoopbackHost(h), h);
  for (const h of ['10.0.0.1:5000', 'example.com', '128.0.0.1', '[::2]:5000']) t.false(isLoopbackHost(h), h);
});

test('distribution error bodies map to typed errors with codes and temporary', (t) => {
  t.deepEqual(parseDistributionErrors('{"errors":[{"code":"DENIED","message":"no"}]}').map((e) => e.code), ['DENIED']);
  t.deepEqual(parseDistributionErrors('<html>'), []);
  const cases: Array<[number, string, string, boolean]> = [
    [404, '{"errors":[{"code":"MANIFEST_UNKNOWN"}]}', 'ERR_REGISTRY_NOT_FOUND', false],
    [401, '{"errors":[{"code":"UNAUTHORIZED"}]}', 'ERR_REGISTRY_UNAUTHORIZED', false],
    [403, '{"errors":[{"code":"DENIED"}]}', 'ERR_REGISTRY_DENIED', false],
    [429, '{"errors":[{"code":"TOOMANYREQUESTS"}]}', 'ERR_REGISTRY_UNAVAILABLE', true],
    [502, '', 'ERR_REGISTRY_UNAVAILABLE', true],
    [400, '{"errors":[{"code":"MANIFEST_INVALID"}]}', 'ERR_REGISTRY_PROTOCOL', false],
  ];
  for (const [status, body, code, temporary] of cases) {
    const e = errorFromResponse('x', status, body);
    t.is(e.code, code);
    t.is(e.status, status);
    t.is(e.temporary, temporary);
  }
});
