// Table-driven reference parsing, cases taken from distribution/reference's
// reference_test.go (TestReferenceParse) and normalize_test.go
// (TestValidateReferenceName, TestValidateRemoteName, TestParseRepositoryInfo,
// TestParseAnyReference, TestNormalizedSplitHostname).
import test from 'ava';
import {
  familiarName, familiarString, formatReference, parseAnyReference, parseDockerReference,
  parseNormalizedReference, parseReference, withDigest, withTag, type InvalidReferenceReason,
} from '@berth/oci-spec';

const f64 = 'f'.repeat(64);
const f128 = 'f'.repeat(128);

interface Ok { input: string; domain?: string; name: string; tag?: string; digest?: string }
interface Bad { input: string; reason: InvalidReferenceReason }

// reference.Parse: strict, no normalization.
const strictOk: Ok[] = [
  { input: 'test_com', name: 'test_com' },
  { input: 'test.com:tag', name: 'test.com', tag: 'tag' },
  { input: 'test.com:5000', name: 'test.com', tag: '5000' },
  { input: 'test.com/repo:tag', domain: 'test.com', name: 'test.com/repo', tag: 'tag' },
  { input: 'test:5000/repo', domain: 'test:5000', name: 'test:5000/repo' },
  { input: 'test:5000/repo:tag', domain: 'test:5000', name: 'test:5000/repo', tag: 'tag' },
  { input: `test:5000/repo@sha256:${f64}`, domain: 'test:5000', name: 'test:5000/repo', digest: `sha256:${f64}` },
  { input: `test:5000/repo:tag@sha256:${f64}`, domain: 'test:5000', name: 'test:5000/repo', tag: 'tag', digest: `sha256:${f64}` },
  { input: 'lowercase:Uppercase', name: 'lowercase', tag: 'Uppercase' },
  { input: `${'a/'.repeat(127)}a:tag-puts-this-over-max`, domain: 'a', name: `${'a/'.repeat(127)}a`, tag: 'tag-puts-this-over-max' },
  { input: 'sub-dom1.foo.com/bar/baz/quux', domain: 'sub-dom1.foo.com', name: 'sub-dom1.foo.com/bar/baz/quux' },
  { input: 'sub-dom1.foo.com/bar/baz/quux:some-long-tag', domain: 'sub-dom1.foo.com', name: 'sub-dom1.foo.com/bar/baz/quux', tag: 'some-long-tag' },
  { input: 'b.gcr.io/test.example.com/my-app:test.example.com', domain: 'b.gcr.io', name: 'b.gcr.io/test.example.com/my-app', tag: 'test.example.com' },
  { input: 'xn--n3h.com/myimage:xn--n3h.com', domain: 'xn--n3h.com', name: 'xn--n3h.com/myimage', tag: 'xn--n3h.com' },
  { input: `xn--7o8h.com/myimage:xn--7o8h.com@sha512:${f128}`, domain: 'xn--7o8h.com', name: 'xn--7o8h.com/myimage', tag: 'xn--7o8h.com', digest: `sha512:${f128}` },
  { input: 'foo_bar.com:8080', name: 'foo_bar.com', tag: '8080' },
  { input: 'foo/foo_bar.com:8080', domain: 'foo', name: 'foo/foo_bar.com', tag: '8080' },
  { input: '192.168.1.1', name: '192.168.1.1' },
  { input: '192.168.1.1:tag', name: '192.168.1.1', tag: 'tag' },
  { input: '192.168.1.1:5000', name: '192.168.1.1', tag: '5000' },
  { input: '192.168.1.1/repo', domain: '192.168.1.1', name: '192.168.1.1/repo' },
  { input: '192.168.1.1:5000/repo', domain: '192.168.1.1:5000', name: '192.168.1.1:5000/repo' },
  { input: '192.168.1.1:5000/repo:5050', domain: '192.168.1.1:5000', name: '192.168.1.1:5000/repo', tag: '5050' },
  { input: '[2001:db8::1]/repo', domain: '[2001:db8::1]', name: '[2001:db8::1]/repo' },
  { input: '[2001:db8:1:2:3:4:5:6]/repo:tag', domain: '[2001:db8:1:2:3:4:5:6]', name: '[2001:db8:1:2:3:4:5:6]/repo', tag: 'tag' },
  { input: '[2001:db8::1]:5000/repo', domain: '[2001:db8::1]:5000', name: '[2001:db8::1]:5000/repo' },
  { input: '[2001:db8::1]:5000/repo:tag', domain: '[2001:db8::1]:5000', name: '[2001:db8::1]:5000/repo', tag: 'tag' },
  { input: `[2001:db8::1]:5000/repo@sha256:${f64}`, domain: '[2001:db8::1]:5000', name: '[2001:db8::1]:5000/repo', digest: `sha256:${f64}` },
  { input: `[2001:db8::1]:5000/repo:tag@sha256:${f64}`, domain: '[2001:db8::1]:5000', name: '[2001:db8::1]:5000/repo', tag: 'tag', digest: `sha256:${f64}` },
  { input: '[2001:db8::]:5000/repo', domain: '[2001:db8::]:5000', name: '[2001:db8::]:5000/repo' },
  { input: '[::1]:5000/repo', domain: '[::1]:5000', name: '[::1]:5000/repo' },
];

const strictBad: Bad[] = [
  { input: '', reason: 'empty' },
  { input: ':justtag', reason: 'format' },
  { input: `@sha256:${f64}`, reason: 'format' },
  { input: 'repo@sha256:ffffffffffffffffffffffffffffffffff', reason: 'digest' },
  { input: `validname@invaliddigest:${f64}`, reason: 'digest' },
  { input: 'Uppercase:tag', reason: 'uppercase' },
  { input: 'test:5000/Uppercase/lowercase:tag', reason: 'uppercase' },
  { input: `${'a/'.repeat(128)}a:tag`, reason: 'name-too-long' },
  { input: 'aa/asdf$$^/aa', reason: 'format' },
  { input: '[2001:db8::1]', reason: 'format' },
  { input: '[2001:db8::1]:5000', reason: 'format' },
  { input: '[2001:db8::1]:tag', reason: 'format' },
  { input: '[fe80::1%eth0]:5000/repo', reason: 'format' },
  { input: '[fe80::1%@invalidzone]:5000/repo', reason: 'format' },
  // A 129-character tag breaks the 128 limit.
  { input: `repo:${'t'.repeat(129)}`, reason: 'format' },
  // Uppercase hex in a digest is not a valid sha256 encoding.
  { input: `repo@sha256:${'F'.repeat(64)}`, reason: 'digest' },
];

for (const c of strictOk) {
  test(`parseReference accepts ${c.input.slice(0, 60)}`, (t) => {
    const r = parseReference(c.input);
    t.is(r.name, c.name);
    t.is(r.domain, c.domain ?? '');
    t.is(r.tag, c.tag);
    t.is<string | undefined, string | undefined>(r.digest, c.digest);
    t.is(formatReference(r), c.input);
  });
}

for (const c of strictBad) {
  test(`parseReference rejects ${JSON.stringify(c.input.slice(0, 60))} (${c.reason})`, (t) => {
    const e = t.throws(() => parseReference(c.input));
    t.is((e as { code?: string }).code, 'ERR_OCI_INVALID_REFERENCE');
    t.is((e as { reason?: string }).reason, c.reason);
  });
}

// ParseNormalizedNamed: the Docker CLI's parsing.
interface Norm { input: string; full: string; domain: string; path: string; familiar: string }
const normalized: Norm[] = [
  { input: 'fooo/bar', full: 'docker.io/fooo/bar', domain: 'docker.io', path: 'fooo/bar', familiar: 'fooo/bar' },
  { input: 'docker.io/fooo/bar', full: 'docker.io/fooo/bar', domain: 'docker.io', path: 'fooo/bar', familiar: 'fooo/bar' },
  { input: 'index.docker.io/fooo/bar', full: 'docker.io/fooo/bar', domain: 'docker.io', path: 'fooo/bar', familiar: 'fooo/bar' },
  { input: 'ubuntu', full: 'docker.io/library/ubuntu', domain: 'docker.io', path: 'library/ubuntu', familiar: 'ubuntu' },
  { input: 'library/ubuntu', full: 'docker.io/library/ubuntu', domain: 'docker.io', path: 'library/ubuntu', familiar: 'ubuntu' },
  { input: 'docker.io/library/ubuntu', full: 'docker.io/library/ubuntu', domain: 'docker.io', path: 'library/ubuntu', familiar: 'ubuntu' },
  { input: 'nonlibrary/ubuntu', full: 'docker.io/nonlibrary/ubuntu', domain: 'docker.io', path: 'nonlibrary/ubuntu', familiar: 'nonlibrary/ubuntu' },
  { input: 'other/library', full: 'docker.io/other/library', domain: 'docker.io', path: 'other/library', familiar: 'other/library' },
  { input: '127.0.0.1:8000/private/moonbase', full: '127.0.0.1:8000/private/moonbase', domain: '127.0.0.1:8000', path: 'private/moonbase', familiar: '127.0.0.1:8000/private/moonbase' },
  { input: '127.0.0.1:8000/privatebase', full: '127.0.0.1:8000/privatebase', domain: '127.0.0.1:8000', path: 'privatebase', familiar: '127.0.0.1:8000/privatebase' },
  { input: 'example.com/private/moonbase', full: 'example.com/private/moonbase', domain: 'example.com', path: 'private/moonbase', familiar: 'example.com/private/moonbase' },
  { input: 'example.com:8000/privatebasee', full: 'example.com:8000/privatebasee', domain: 'example.com:8000', path: 'privatebasee', familiar: 'example.com:8000/privatebasee' },
  { input: 'ubuntu-12.04-base', full: 'docker.io/library/ubuntu-12.04-base', domain: 'docker.io', path: 'library/ubuntu-12.04-base', familiar: 'ubuntu-12.04-base' },
  { input: 'docker.io/foo', full: 'docker.io/library/foo', domain: 'docker.io', path: 'library/foo', familiar: 'foo' },
  { input: 'library/foo/bar', full: 'docker.io/library/foo/bar', domain: 'docker.io', path: 'library/foo/bar', familiar: 'library/foo/bar' },
  { input: 'store/foo/bar', full: 'docker.io/store/foo/bar', domain: 'docker.io', path: 'store/foo/bar', familiar: 'store/foo/bar' },
  { input: 'Foo/bar', full: 'Foo/bar', domain: 'Foo', path: 'bar', familiar: 'Foo/bar' },
  { input: 'FOO/bar', full: 'FOO/bar', domain: 'FOO', path: 'bar', familiar: 'FOO/bar' },
  { input: 'test_com/foo', full: 'docker.io/test_com/foo', domain: 'docker.io', path: 'test_com/foo', familiar: 'test_com/foo' },
  { input: 'test-com:8080/foo', full: 'test-com:8080/foo', domain: 'test-com:8080', path: 'foo', familiar: 'test-com:8080/foo' },
  { input: 'xn--n3h.com:18080/foo', full: 'xn--n3h.com:18080/foo', domain: 'xn--n3h.com:18080', path: 'foo', familiar: 'xn--n3h.com:18080/foo' },
  { input: 'localhost/foo', full: 'localhost/foo', domain: 'localhost', path: 'foo', familiar: 'localhost/foo' },
  { input: 'localhost:5000/foo/bar', full: 'localhost:5000/foo/bar', domain: 'localhost:5000', path: 'foo/bar', familiar: 'localhost:5000/foo/bar' },
  { input: '[fc00::1]:5000/docker/docker', full: '[fc00::1]:5000/docker/docker', domain: '[fc00::1]:5000', path: 'docker/docker', familiar: '[fc00::1]:5000/docker/docker' },
  { input: 'docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a', full: 'docker.io/library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a', domain: 'docker.io', path: 'library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a', familiar: '1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a' },
  { input: 'docker---rules/docker', full: 'docker.io/docker---rules/docker', domain: 'docker.io', path: 'docker---rules/docker', familiar: 'docker---rules/docker' },
  { input: 'dock__er/docker', full: 'docker.io/dock__er/docker', domain: 'docker.io', path: 'dock__er/docker', familiar: 'dock__er/docker' },
  { input: 'd/docker', full: 'docker.io/d/docker', domain: 'docker.io', path: 'd/docker', familiar: 'd/docker' },
  { input: 'thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev', full: 'docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev', domain: 'docker.io', path: 'library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev', familiar: 'thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev' },
];

for (const c of normalized) {
  test(`parseNormalizedReference ${c.input.slice(0, 60)} → ${c.full.slice(0, 60)}`, (t) => {
    const r = parseNormalizedReference(c.input);
    t.is(formatReference(r), c.full);
    t.is(r.domain, c.domain);
    t.is(r.path, c.path);
    t.is(familiarName(r), c.familiar);
  });
}

const normalizedBad: Bad[] = [
  { input: 'https://github.com/docker/docker', reason: 'format' },
  { input: 'docker/Docker', reason: 'uppercase' },
  { input: '-docker', reason: 'format' },
  { input: '-docker/docker', reason: 'format' },
  { input: '-docker.io/docker/docker', reason: 'format' },
  { input: 'docker///docker', reason: 'format' },
  { input: 'docker.io/docker/Docker', reason: 'uppercase' },
  { input: 'docker.io/docker///docker', reason: 'format' },
  { input: '[fc00::1]', reason: 'format' },
  { input: '[fc00::1]:5000', reason: 'format' },
  { input: 'fc00::1:5000/debian', reason: 'format' },
  { input: '[fe80::1%eth0]:5000/debian', reason: 'format' },
  { input: '[2001:db8:3:4::192.0.2.33]:5000/debian', reason: 'format' },
  { input: '1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a', reason: 'identifier' },
  { input: 'docker-/docker', reason: 'format' },
  { input: '____/____', reason: 'format' },
  { input: '_docker/_docker', reason: 'format' },
  { input: 'dock..er/docker', reason: 'format' },
  { input: 'dock_.er/docker', reason: 'format' },
  { input: 'dock-.er/docker', reason: 'format' },
  { input: 'docker/', reason: 'format' },
  { input: `${'this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_'.repeat(4)}/docker`, reason: 'format' },
  { input: `${'a'.repeat(250)}/docker`, reason: 'name-too-long' },
];

for (const c of normalizedBad) {
  test(`parseNormalizedReference rejects ${JSON.stringify(c.input.slice(0, 60))}`, (t) => {
    const e = t.throws(() => parseNormalizedReference(c.input));
    t.is((e as { code?: string }).code, 'ERR_OCI_INVALID_REFERENCE');
    t.is((e as { reason?: string }).reason, c.reason);
  });
}

// What `docker pull` resolves: normalized plus the default tag.
const docker: [string, string, string][] = [
  ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
  ['busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36'],
  ['localhost:5000/busybox', 'localhost:5000/busybox:latest', 'localhost:5000/busybox:latest'],
  ['127.0.0.1:5000/berth/busybox:v1', '127.0.0.1:5000/berth/busybox:v1', '127.0.0.1:5000/berth/busybox:v1'],
  ['redis@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c',
    'docker.io/library/redis@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c',
    'redis@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c'],
  ['busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa',
    'docker.io/library/busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa',
    'busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa'],
  ['dmcgowan/myapp', 'docker.io/dmcgowan/myapp:latest', 'dmcgowan/myapp:latest'],
];
for (const [input, full, familiar] of docker) {
  test(`parseDockerReference ${input.slice(0, 50)}`, (t) => {
    const r = parseDockerReference(input);
    t.is(formatReference(r), full);
    t.is(familiarString(r), familiar);
  });
}

test('parseAnyReference: ids and digests become digest-only references', (t) => {
  const id = 'dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c';
  t.is<string | undefined, string | undefined>(parseAnyReference(id).digest, `sha256:${id}`);
  t.is<string | undefined, string | undefined>(parseAnyReference(`sha256:${id}`).digest, `sha256:${id}`);
  t.is(parseAnyReference(`sha256:${id}`).name, '');
  t.is(formatReference(parseAnyReference(id.slice(0, 63))), `docker.io/library/${id.slice(0, 63)}`);
  t.is(formatReference(parseAnyReference('dbcc1')), 'docker.io/library/dbcc1');
});

test('withTag and withDigest validate and keep the rest', (t) => {
  const r = parseReference('test.com:8000/foo');
  t.is(formatReference(withTag(r, 'TAG5')), 'test.com:8000/foo:TAG5');
  t.is(formatReference(withDigest(withTag(r, 'x'), `sha256:${f64}`)), `test.com:8000/foo:x@sha256:${f64}`);
  t.is((t.throws(() => withTag(r, '-foo')) as { code?: string }).code, 'ERR_OCI_INVALID_REFERENCE');
  t.is((t.throws(() => withDigest(r, 'foo')) as { code?: string }).code, 'ERR_OCI_INVALID_REFERENCE');
});

test('references are frozen values', (t) => {
  const r = parseDockerReference('busybox');
  t.true(Object.isFrozen(r));
});

test('hostile long inputs are refused before the regexps run', (t) => {
  for (const s of ['a'.repeat(100_000), `a${'-a'.repeat(50_000)}!`, `repo:${'t'.repeat(5000)}`]) {
    t.is((t.throws(() => parseReference(s)) as { code?: string }).code, 'ERR_OCI_INVALID_REFERENCE');
    t.is((t.throws(() => parseNormalizedReference(s)) as { code?: string }).code, 'ERR_OCI_INVALID_REFERENCE');
  }
});
