import test from 'ava';
import { fixture, startRegistry, type TestRegistry } from '@berth/testkit';
import path from 'node:path';
import { lazyLocalImages } from '../src/lazy-images.js';
import { berth, tempDir } from './helpers/cli.js';

const isRoot = process.getuid?.() === 0;
const serial = isRoot ? test.serial : test.skip;
let reg: TestRegistry | undefined;

test.before(async () => { if (isRoot) reg = await startRegistry(); });
test.after.always(async () => { await reg?.close(); });

serial('pull with progress, images, inspect, tag, rmi and image events through the CLI (root, local registry)', async (t) => {
  const dir = await tempDir();
  const f = fixture('busybox', 'oci-gzip');
  const ref = `${reg!.host}/${f.repo}:${f.tag}`;
  const pull = await berth(dir, ['pull', ref]);
  t.is(pull.code, 0, pull.stderr);
  const lines = pull.stdout.trim().split('\n');
  t.true(lines.some((l) => /: Pull complete$/.test(l)), pull.stdout);
  t.true(lines.some((l) => /: Downloading/.test(l)));
  t.is(lines.at(-1), ref);
  const images = await berth(dir, ['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']);
  t.regex(images.stdout, new RegExp(`^${ref.replace(/[.:/]/g, '\\$&')} [0-9a-f]{12}\\n$`));
  t.is((await berth(dir, ['image', 'inspect', '-f', '{{.Os}}/{{.Architecture}}', ref])).stdout, 'linux/amd64\n');
  t.is((await berth(dir, ['tag', ref, 'mine:1'])).code, 0);
  t.regex((await berth(dir, ['images'])).stdout, /^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE\n/);
  const rmi = await berth(dir, ['rmi', 'mine:1']);
  t.regex(rmi.stdout, /^Untagged: /);
  const pulled = (await berth(dir, ['events', '--since', '1h', '--until', '0s', '--filter', 'type=image', '--json'])).stdout.trim().split('\n').map((l) => JSON.parse(l));
  t.true(pulled.some((e) => e.Action === 'pull'));
  const missing = await berth(dir, ['rmi', 'nosuch:latest']);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /ERR_ENGINE_IMAGE/);
});

serial('the image lookup run and create start early (prefetch) gives what a fresh lookup gives; a failed one is made again after a pull (root, local registry)', async (t) => {
  const dir = await tempDir();
  const f = fixture('busybox', 'oci-gzip');
  const ref = `${reg!.host}/${f.repo}:${f.tag}`;
  const events: string[] = [];
  const images = lazyLocalImages({ root: path.join(dir, 'root'), publish: async (e) => { events.push(e.Action); return e; }, isInUse: async () => false });
  t.teardown(() => images.close());
  images.prefetch(ref); // not pulled yet: this lookup fails
  await t.throwsAsync(images.resolveImage(ref), { code: 'ERR_ENGINE_IMAGE_NOT_FOUND' });
  images.prefetch(ref);
  await images.pull(ref);
  const fresh = await images.resolveImage(ref); // the failed prefetch is not reused: looked up again
  images.prefetch(ref);
  const warm = await images.resolveImage(ref);
  t.deepEqual(warm, fresh);
  images.prefetch('other:tag');
  t.deepEqual(await images.resolveImage(ref), fresh, 'a prefetch of another reference is not taken');
  t.true(events.includes('pull'));
});
