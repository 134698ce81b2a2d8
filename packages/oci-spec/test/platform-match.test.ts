import test from 'ava';
import {
  compatiblePlatforms, formatPlatform, hostPlatform, normalizePlatform, onlyPlatform, onlyStrictPlatform,
  orderedPlatforms, parsePlatform, selectPlatformEntry, anyPlatform, allPlatforms, type Platform,
} from '@berth/oci-spec';

const p = (s: string): Platform => {
  const [os = '', architecture = '', variant] = s.split('/');
  return { os, architecture, ...(variant === undefined ? {} : { variant }) };
};

test('parsePlatform: os/arch[/variant] with normalization (containerd Parse)', (t) => {
  const cases: [string, string][] = [
    ['linux/arm64/v8', 'linux/arm64/v8'],
    ['linux/arm64', 'linux/arm64'],
    ['linux/aarch64', 'linux/arm64'],
    ['linux/aarch64/8', 'linux/arm64/v8'],
    ['linux/x86_64', 'linux/amd64'],
    ['linux/x86-64', 'linux/amd64'],
    ['linux/amd64/v1', 'linux/amd64'],
    ['linux/amd64/v3', 'linux/amd64/v3'],
    ['linux/i386', 'linux/386'],
    ['linux/armhf', 'linux/arm'],
    ['linux/armel', 'linux/arm/v6'],
    ['linux/arm', 'linux/arm'],
    ['linux/arm/7', 'linux/arm/v7'],
    ['linux/arm/v5', 'linux/arm/v5'],
    ['Linux/AMD64', 'linux/amd64'],
    ['macos/arm64', 'darwin/arm64'],
    ['linux/ppc64le', 'linux/ppc64le'],
    ['linux/s390x', 'linux/s390x'],
    ['windows(10.0.17763)/amd64', 'windows(10.0.17763)/amd64'],
  ];
  for (const [input, want] of cases) t.is(formatPlatform(parsePlatform(input)), want, input);
});

test('parsePlatform: one part is an OS or an architecture, filled from the host', (t) => {
  const host = hostPlatform();
  t.deepEqual(parsePlatform('linux'), { os: 'linux', architecture: host.architecture, ...(host.architecture === 'arm' && host.variant !== 'v7' && host.variant ? { variant: host.variant } : {}) });
  t.deepEqual(parsePlatform('arm64'), { os: host.os, architecture: 'arm64' });
  t.deepEqual(parsePlatform('aarch64'), { os: host.os, architecture: 'arm64' });
});

test('parsePlatform rejects bad specifiers with ERR_OCI_INVALID_PLATFORM', (t) => {
  for (const bad of ['', 'linux/*', 'linux/arm/v7/extra', 'linux//arm', 'linux/arm 64', 'notanos', 'linux/amd64/v$', '/amd64']) {
    t.is((t.throws(() => parsePlatform(bad), undefined, bad) as { code?: string }).code, 'ERR_OCI_INVALID_PLATFORM', bad);
  }
});

test('normalizePlatform: baseline variants and aliases', (t) => {
  t.deepEqual(normalizePlatform(p('linux/arm64/v8')), p('linux/arm64'));
  t.deepEqual(normalizePlatform(p('linux/aarch64')), p('linux/arm64'));
  t.deepEqual(normalizePlatform(p('linux/arm')), p('linux/arm/v7'));
  t.deepEqual(normalizePlatform(p('linux/amd64/v1')), p('linux/amd64'));
  t.deepEqual(normalizePlatform(p('linux/x86_64/v2')), p('linux/amd64/v2'));
  t.deepEqual(normalizePlatform(p('LINUX/ARM64/V8')), p('linux/arm64'));
});

test('hostPlatform is normalized and matches itself', (t) => {
  const host = hostPlatform();
  t.deepEqual(normalizePlatform(host), host);
  t.true(onlyPlatform(host).match(host));
  t.is(host.os, 'linux');
});

test('onlyPlatform: what each host can run (containerd Only)', (t) => {
  const runs: [string, string[], string[]][] = [
    ['linux/amd64', ['linux/amd64', 'linux/amd64/v1', 'linux/x86_64', 'linux/386'], ['linux/amd64/v2', 'linux/arm64', 'windows/amd64']],
    ['linux/amd64/v3', ['linux/amd64/v3', 'linux/amd64/v2', 'linux/amd64', 'linux/386'], ['linux/amd64/v4']],
    ['linux/arm64', ['linux/arm64', 'linux/arm64/v8', 'linux/aarch64', 'linux/arm/v8', 'linux/arm/v7', 'linux/arm', 'linux/arm/v6', 'linux/arm/v5'], ['linux/amd64', 'linux/arm64/v9', 'linux/arm64/v8.1']],
    ['linux/arm/v7', ['linux/arm/v7', 'linux/arm', 'linux/arm/v6', 'linux/arm/v5'], ['linux/arm/v8', 'linux/arm64']],
    ['linux/arm/v6', ['linux/arm/v6', 'linux/arm/v5'], ['linux/arm/v7', 'linux/arm']],
    ['linux/arm64/v8.2', ['linux/arm64/v8.2', 'linux/arm64/v8.1', 'linux/arm64', 'linux/arm/v8', 'linux/arm/v7'], ['linux/arm64/v8.3', 'linux/arm64/v9']],
    ['linux/arm64/v9.1', ['linux/arm64/v9.1', 'linux/arm64/v9', 'linux/arm64/v8.6', 'linux/arm64/v8.1', 'linux/arm64', 'linux/arm/v7'], ['linux/arm64/v9.2']],
  ];
  for (const [host, yes, no] of runs) {
    const m = onlyPlatform(p(host));
    for (const y of yes) t.true(m.match(p(y)), `${host} runs ${y}`);
    for (const n of no) t.false(m.match(p(n)), `${host} does not run ${n}`);
  }
});

test('onlyPlatform orders the exact platform first (Less)', (t) => {
  const m = onlyPlatform(p('linux/arm64'));
  t.true(m.less(p('linux/arm64'), p('linux/arm/v7')));
  t.false(m.less(p('linux/arm/v7'), p('linux/arm64')));
  t.true(m.less(p('linux/arm/v7'), p('linux/arm/v6')));
  t.true(m.less(p('linux/arm/v6'), p('linux/amd64')));
  t.false(m.less(p('linux/arm64'), p('linux/arm64/v8')));
  const amd = onlyPlatform(p('linux/amd64/v2'));
  t.true(amd.less(p('linux/amd64/v2'), p('linux/amd64')));
  t.true(amd.less(p('linux/amd64'), p('linux/386')));
});

test('onlyStrictPlatform matches non-canonical forms but no fallbacks', (t) => {
  const m = onlyStrictPlatform(p('linux/arm64'));
  t.true(m.match(p('linux/arm64/v8')));
  t.true(m.match(p('linux/aarch64')));
  t.false(m.match(p('linux/arm/v7')));
  const a = onlyStrictPlatform(p('linux/amd64'));
  t.false(a.match(p('linux/386')));
  t.true(a.match(p('linux/amd64/v1')));
});

test('compatiblePlatforms lists amd64 fallbacks in order', (t) => {
  t.deepEqual(compatiblePlatforms(p('linux/amd64/v3')).map(formatPlatform), ['linux/amd64/v3', 'linux/amd64/v2', 'linux/amd64/v1', 'linux/386']);
  t.deepEqual(compatiblePlatforms(p('linux/arm64')).map(formatPlatform), ['linux/arm64', 'linux/arm/v8', 'linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5']);
});

const entry = (platform: string | undefined, name: string) => ({
  name, ...(platform === undefined ? {} : { platform: p(platform) }),
});

test('selectPlatformEntry picks the best index entry', (t) => {
  const index = [
    entry('linux/arm/v6', 'armv6'),
    entry('linux/386', '386'),
    entry('linux/arm/v7', 'armv7'),
    entry('linux/amd64', 'amd64'),
    entry('linux/arm64/v8', 'arm64'),
    entry('unknown/unknown', 'attestation'),
    entry('windows/amd64', 'win'),
  ];
  t.is(selectPlatformEntry(index, onlyPlatform(p('linux/amd64')))?.name, 'amd64');
  t.is(selectPlatformEntry(index, onlyPlatform(p('linux/amd64/v2')))?.name, 'amd64');
  t.is(selectPlatformEntry(index, onlyPlatform(p('linux/arm64')))?.name, 'arm64');
  t.is(selectPlatformEntry(index, onlyPlatform(p('linux/arm/v7')))?.name, 'armv7');
  t.is(selectPlatformEntry(index, onlyPlatform(p('linux/arm/v6')))?.name, 'armv6');
  t.is(selectPlatformEntry(index, onlyPlatform(p('windows/amd64')))?.name, 'win');
  t.is(selectPlatformEntry(index, onlyPlatform(p('linux/s390x'))), undefined);
  // Without the amd64 entry, an amd64 host falls back to 386; arm64 hosts fall back to arm/v7 before v6.
  const noAmd = index.filter((e) => e.name !== 'amd64' && e.name !== 'arm64');
  t.is(selectPlatformEntry(noAmd, onlyPlatform(p('linux/amd64')))?.name, '386');
  t.is(selectPlatformEntry(noAmd, onlyPlatform(p('linux/arm64')))?.name, 'armv7');
  // The default matcher is the host's.
  t.is(selectPlatformEntry(index)?.platform?.os, 'linux');
});

test('selectPlatformEntry: entries without a platform are a last resort', (t) => {
  t.is(selectPlatformEntry([entry(undefined, 'any')], onlyPlatform(p('linux/amd64')))?.name, 'any');
  t.is(selectPlatformEntry([entry(undefined, 'any'), entry('linux/amd64', 'amd64')], onlyPlatform(p('linux/amd64')))?.name, 'amd64');
});

test('orderedPlatforms, anyPlatform and allPlatforms', (t) => {
  const o = orderedPlatforms(p('linux/arm64'), p('linux/amd64'));
  t.true(o.less(p('linux/arm64'), p('linux/amd64')));
  t.false(o.match(p('linux/386')));
  const any = anyPlatform(p('linux/arm64'), p('linux/amd64'));
  t.false(any.less(p('linux/arm64'), p('linux/amd64')));
  t.true(any.less(p('linux/amd64'), p('linux/386')));
  t.true(allPlatforms.match(p('plan9/mips')));
  t.false(allPlatforms.less(p('linux/amd64'), p('linux/arm64')));
});
