import test from 'ava';
import { parseVolumeFlag, parseMountFlag, parseTmpfsFlag, toOciMount } from '@berth/engine';

test('-v forms: anonymous, named, bind (absolute and relative), options', (t) => {
  t.like(parseVolumeFlag('/data'), { Type: 'volume', Source: '', Target: '/data', ReadOnly: false });
  t.like(parseVolumeFlag('cache:/var/cache:ro'), { Type: 'volume', Source: 'cache', Target: '/var/cache', ReadOnly: true });
  t.like(parseVolumeFlag('/srv:/srv:ro,z'), { Type: 'bind', Source: '/srv', Target: '/srv', ReadOnly: true, Relabel: 'z', CreateHostPath: true });
  t.like(parseVolumeFlag('./conf:/etc/app', '/home/u'), { Type: 'bind', Source: '/home/u/conf' });
  t.like(parseVolumeFlag('/srv:/srv:rshared'), { Propagation: 'rshared' });
  t.like(parseVolumeFlag('vv:/x:nocopy'), { NoCopy: true });
  t.like(parseVolumeFlag('/x:ro'), { Type: 'volume', Target: '/x', ReadOnly: true });
});

test('-v errors', (t) => {
  for (const bad of ['', 'a:b', 'v:relative', '/a:/b:ro,rw', '/a:/b:bogus', 'v:/x:rshared', '/a:/b:nocopy', 'a:/b:c:d', '/a:/']) {
    t.throws(() => parseVolumeFlag(bad), { code: 'ERR_ENGINE_INVALID_MOUNT' }, bad);
  }
});

test('--mount forms', (t) => {
  t.like(parseMountFlag('type=bind,source=/a,target=/b,readonly'), { Type: 'bind', Source: '/a', Target: '/b', ReadOnly: true, Recursive: true, CreateHostPath: false });
  t.like(parseMountFlag('type=bind,src=/a,dst=/b,bind-propagation=rslave,bind-recursive=disabled'), { Propagation: 'rslave', Recursive: false });
  t.like(parseMountFlag('type=volume,source=vv,target=/d,volume-label=a=b,volume-opt=type=tmpfs,volume-nocopy'),
    { Type: 'volume', Source: 'vv', VolumeLabels: { a: 'b' }, VolumeOptions: { type: 'tmpfs' }, NoCopy: true });
  t.like(parseMountFlag('target=/anon'), { Type: 'volume', Source: '' });
  t.like(parseMountFlag('type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1770'), { Type: 'tmpfs', TmpfsSize: 64 * 1024 * 1024, TmpfsMode: 0o1770 });
  t.like(parseMountFlag('"type=bind","source=/a,b",target=/c'), { Source: '/a,b' });
  for (const bad of ['type=nfs,target=/a', 'type=bind,target=/a', 'type=tmpfs,source=x,target=/a', 'type=volume,target=/a,bind-propagation=shared',
    'type=bind,source=/a,target=/b,readonly=maybe', 'type=bind,source=/a,target=/b,colour=red', 'type=tmpfs,target=/a,tmpfs-mode=999', 'type=bind,source=/a']) {
    t.throws(() => parseMountFlag(bad), { code: 'ERR_ENGINE_INVALID_MOUNT' }, bad);
  }
});

test('--tmpfs and the OCI mounts everything becomes', (t) => {
  const tm = parseTmpfsFlag('/run:size=1m,exec,uid=1000');
  t.deepEqual(toOciMount(tm), { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'exec', 'uid=1000', 'size=1048576', 'mode=1777'] });
  t.deepEqual(toOciMount(parseTmpfsFlag('/tmp')).options, ['nosuid', 'nodev', 'noexec', 'mode=1777']);
  t.deepEqual(toOciMount(parseVolumeFlag('/h:/c:ro')), { destination: '/c', type: 'bind', source: '/h', options: ['rbind', 'rprivate', 'ro'] });
  t.deepEqual(toOciMount(parseVolumeFlag('vv:/c'), '/var/lib/berth/volumes/vv/_data'),
    { destination: '/c', type: 'bind', source: '/var/lib/berth/volumes/vv/_data', options: ['rbind', 'rprivate'] });
  t.throws(() => toOciMount(parseVolumeFlag('vv:/c')), { code: 'ERR_ENGINE_INVALID_MOUNT' });
  t.throws(() => parseTmpfsFlag('/t:mode=abc'), { code: 'ERR_ENGINE_INVALID_MOUNT' });
  t.throws(() => parseTmpfsFlag('rel'), { code: 'ERR_ENGINE_INVALID_MOUNT' });
});
