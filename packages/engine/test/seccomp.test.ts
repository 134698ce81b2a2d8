/**
 * Docker's default seccomp profile applies to every container unless
 * `--privileged` or `--security-opt seccomp=unconfined`: `unshare -U`
 * (no capability needed, but not on the profile's list without
 * CAP_SYS_ADMIN) fails with EPERM by default and works without the filter.
 */
import test from 'ava';
import type { CreateContainerOptions, LocalEngine } from '@berth/engine';
import { isRoot } from './helpers/tmp.js';
import { createOptions, openPulledEngine, runToExit, type PulledEngine } from './helpers/pulled-engine.js';

const serial = isRoot ? test.serial : test.skip;
let env: PulledEngine | undefined;
let engine: LocalEngine;
let ref: string;

test.before(async () => {
  if (!isRoot) return;
  env = await openPulledEngine({ bridgePrefix: 'bs', subnet: '10.189.0.0/16', pool: '10.190.0.0/16' });
  ({ engine, ref } = env);
});

test.after.always(async () => {
  await env?.close();
});

function opts(o: Partial<CreateContainerOptions>): CreateContainerOptions {
  return createOptions(ref, o);
}

async function run(o: Partial<CreateContainerOptions>): Promise<{ code: number; out: string }> {
  const { id, code, out } = await runToExit(engine, opts(o));
  await engine.containers.remove(id);
  return { code, out };
}

const probe = ['sh', '-c', 'unshare -U true 2>&1 && echo allowed; echo ok'];

serial('by default a syscall off the profile fails with EPERM; seccomp=unconfined and --privileged lift it; normal work goes on (root)', async (t) => {
  const def = await run({ cmd: probe });
  t.is(def.code, 0);
  t.regex(def.out, /Operation not permitted/);
  t.notRegex(def.out, /allowed/);
  t.is((await run({ cmd: probe, securityOpt: ['seccomp=unconfined'] })).out, 'allowed\nok\n');
  // This machine withholds CAP_SYS_RESOURCE from root: a privileged container gets the capabilities the engine holds.
  t.is((await run({ cmd: probe, privileged: true })).out, 'allowed\nok\n');
  t.is((await run({ cmd: probe, capAdd: ['CAP_SYS_ADMIN'] })).out, 'allowed\nok\n', 'CAP_SYS_ADMIN brings unshare onto the profile');
  // The usual work of a container under the default profile: fork/exec, files, pipes, sockets, signals.
  const busy = await run({ cmd: ['sh', '-c', 'mkdir /t && echo x > /t/f && cat /t/f | wc -c && (sleep 0.01 &) && wait && nc -l -p 1 -s 127.0.0.1 & sleep 0.1; kill %1 2>/dev/null; echo done'] });
  t.is(busy.code, 0);
  t.regex(busy.out, /^2\n(.|\n)*done\n$/);
});

serial('--security-opt: unknown values are refused with a typed error; the profile is recorded (root)', async (t) => {
  await t.throwsAsync(engine.containers.create(opts({ cmd: ['true'], securityOpt: ['seccomp=/nope.json'] })), { code: 'ERR_ENGINE_INVALID_ARGUMENT' });
  const r = await engine.containers.create(opts({ cmd: ['true'], securityOpt: ['seccomp=unconfined'] }));
  t.deepEqual(r.HostConfig.SecurityOpt, ['seccomp=unconfined']);
  await engine.containers.remove(r.Id);
});
