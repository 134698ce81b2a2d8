import test from 'ava';
import { DEFAULT_PATH_ENV, generateSpec, resolveUser, validateRuntimeSpec, withEnv, withImageConfig, withUser } from '@berth/oci-spec';

const db = {
  passwd: [
    'root:x:0:0:root:/root:/bin/sh',
    '# a comment',
    'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
    'app:x:1000:1000:App:/home/app:/bin/sh',
    'broken:x:notanumber:1::/:/bin/sh',
    'nohome:x:1001:1001:::/bin/sh',
  ].join('\n'),
  group: [
    'root:x:0:',
    'daemon:x:1:',
    'app:x:1000:',
    'audio:x:29:app,other',
    'video:x:44:app',
    'staff:x:50:other',
  ].join('\n'),
};

const code = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
};

test('resolveUser follows Docker\'s rules', (t) => {
  t.deepEqual(resolveUser('', db), { uid: 0, gid: 0, additionalGids: [], home: '/root' });
  t.deepEqual(resolveUser('app', db), { uid: 1000, gid: 1000, additionalGids: [29, 44], home: '/home/app' });
  t.deepEqual(resolveUser('1000', db), { uid: 1000, gid: 1000, additionalGids: [29, 44], home: '/home/app' });
  t.deepEqual(resolveUser('app:audio', db), { uid: 1000, gid: 29, additionalGids: [], home: '/home/app' });
  t.deepEqual(resolveUser('app:7', db), { uid: 1000, gid: 7, additionalGids: [], home: '/home/app' });
  t.deepEqual(resolveUser('4242', db), { uid: 4242, gid: 0, additionalGids: [], home: '/' });
  t.deepEqual(resolveUser('4242:4343', db), { uid: 4242, gid: 4343, additionalGids: [], home: '/' });
  t.deepEqual(resolveUser('nohome', db), { uid: 1001, gid: 1001, additionalGids: [], home: '/' });
});

test('resolveUser refuses unknown names and bad ids', (t) => {
  t.is(code(() => resolveUser('daemon')), 'ERR_OCI_INVALID_SPEC_OPTION');
  t.is(code(() => resolveUser('nobody', db)), 'ERR_OCI_INVALID_SPEC_OPTION');
  t.is(code(() => resolveUser('app:nogroup', db)), 'ERR_OCI_INVALID_SPEC_OPTION');
  t.is(code(() => resolveUser('99999999999', db)), 'ERR_OCI_INVALID_SPEC_OPTION');
  t.is(code(() => resolveUser('a:b:c', db)), 'ERR_OCI_INVALID_SPEC_OPTION');
  t.is(code(() => withUser('app')), 'ERR_OCI_INVALID_SPEC_OPTION');
});

test('withUser resolves names when given the user database', (t) => {
  t.deepEqual(generateSpec(withUser('app', db)).process?.user, { uid: 1000, gid: 1000, additionalGids: [29, 44] });
  t.deepEqual(generateSpec(withUser('1000:44')).process?.user, { uid: 1000, gid: 44 });
});

test('withImageConfig applies env, HOME, entrypoint+cmd, workdir and user like Docker', (t) => {
  const spec = generateSpec(
    withEnv(['FROM_ENGINE=1']),
    withImageConfig({
      Env: ['PATH=/app/bin:/usr/bin', 'LANG=C.UTF-8'], Entrypoint: ['/app/bin/serve'], Cmd: ['--port', '80'],
      WorkingDir: '/srv', User: 'app',
    }, db),
  );
  validateRuntimeSpec(spec);
  t.deepEqual(spec.process?.env, ['PATH=/app/bin:/usr/bin', 'FROM_ENGINE=1', 'LANG=C.UTF-8', 'HOME=/home/app']);
  t.deepEqual(spec.process?.args, ['/app/bin/serve', '--port', '80']);
  t.is(spec.process?.cwd, '/srv');
  t.deepEqual(spec.process?.user, { uid: 1000, gid: 1000, additionalGids: [29, 44] });
  // Docker's nulls and an empty config: root, default PATH, HOME from passwd, cwd /.
  const bare = generateSpec(withImageConfig({ Env: null, Cmd: null, Entrypoint: null }, db));
  t.deepEqual(bare.process?.env, [DEFAULT_PATH_ENV, 'HOME=/root']);
  t.deepEqual(bare.process?.user, { uid: 0, gid: 0 });
  t.is(bare.process?.cwd, '/');
  // An image HOME wins.
  t.true(generateSpec(withImageConfig({ Env: ['HOME=/x'] })).process?.env?.includes('HOME=/x'));
  t.is(code(() => withImageConfig({ WorkingDir: 'rel' })), 'ERR_OCI_INVALID_SPEC_OPTION');
  t.is(code(() => withImageConfig({ User: 'ghost' }, db)), 'ERR_OCI_INVALID_SPEC_OPTION');
});
