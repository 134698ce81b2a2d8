// Runtime configs written by the peers validate against our runtime-spec
// schema: `runc spec`'s default config.json and the bundle config umoci
// writes when it unpacks a fixture image.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { fixture } from '@berth/testkit';
import { parseRuntimeSpec } from '@berth/oci-spec';

const exec = promisify(execFile);
const has = async (cmd: string): Promise<boolean> => exec('sh', ['-c', `command -v ${cmd}`]).then(() => true, () => false);

async function tmp(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-oci-spec-interop-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

// Decided at load time: without the peer the test is skipped, as its title says.
const runcTest = (await has('runc')) ? test : test.skip;
const umociTest = (await has('umoci')) ? test : test.skip;

runcTest('runc spec writes a config.json that validates (needs runc)', async (t) => {
  const dir = await tmp(t);
  await exec('runc', ['spec', '--bundle', dir]);
  const spec = parseRuntimeSpec(await fs.readFile(path.join(dir, 'config.json')));
  t.is(spec.root?.path, 'rootfs');
  t.true((spec.linux?.namespaces ?? []).some((n) => n.type === 'mount'));
  // And the rootless variant.
  await fs.rm(path.join(dir, 'config.json'));
  await exec('runc', ['spec', '--rootless', '--bundle', dir]);
  t.true((parseRuntimeSpec(await fs.readFile(path.join(dir, 'config.json'))).linux?.uidMappings ?? []).length > 0);
});

umociTest('umoci unpack writes a bundle config.json that validates (needs umoci)', async (t) => {
  const f = fixture('busybox', 'oci-gzip');
  const dir = await tmp(t);
  const bundle = path.join(dir, 'bundle');
  const rootless = process.getuid?.() === 0 ? [] : ['--rootless'];
  await exec('umoci', ['unpack', ...rootless, '--image', `${f.path}:${f.ref ?? 'latest'}`, bundle], { timeout: 120_000 });
  const spec = parseRuntimeSpec(await fs.readFile(path.join(bundle, 'config.json')));
  t.is(spec.root?.path, 'rootfs');
  t.true((spec.process?.args ?? []).length > 0);
});
