import test from 'ava';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fixture, startRegistry, tempDir, type TempDir, type TestRegistry } from '@berth/testkit';
import { createRegistryClient, dockerConfigCredentials, runCredentialHelper } from '@berth/registry-client';

const f = fixture('busybox', 'oci-gzip');
let registry: TestRegistry;
let dir: TempDir;
let binDir: string;
let helperLog: string;

// A real docker-credential helper (docker-credential-helpers protocol): reads the server URL on
// stdin for `get`, answers {"ServerURL","Username","Secret"}, or "credentials not found" and exit 1.
const helperScript = (host: string, user: string, secret: string, log: string) => `#!/bin/sh
[ "$1" = get ] || { echo "unsupported $1" >&2; exit 2; }
read -r server
echo "get $server" >> '${log}'
if [ "$server" = '${host}' ]; then
  printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}\\n' "$server" '${user}' '${secret}'
elif [ "$server" = 'token.example' ]; then
  printf '{"ServerURL":"%s","Username":"<token>","Secret":"refresh-123"}\\n' "$server"
else
  echo "credentials not found in native keychain"
  exit 1
fi
`;

test.before(async () => {
  registry = await startRegistry({ auth: 'basic', seed: true });
  dir = await tempDir('registry-client-creds');
  binDir = path.join(dir.path, 'bin');
  helperLog = path.join(dir.path, 'helper.log');
  await fs.mkdir(binDir);
  const helper = path.join(binDir, 'docker-credential-berthtest');
  await fs.writeFile(helper, helperScript(registry.host, registry.auth!.username, registry.auth!.password, helperLog), { mode: 0o755 });
});
test.after.always(async () => { await registry?.close(); await dir?.cleanup(); });

async function writeConfig(name: string, cfg: unknown): Promise<string> {
  const d = path.join(dir.path, name);
  await fs.mkdir(d, { recursive: true });
  await fs.writeFile(path.join(d, 'config.json'), JSON.stringify(cfg));
  return d;
}

const env = () => ({ ...process.env, PATH: `${binDir}:${process.env.PATH ?? ''}` });

async function resolvesWith(configDir: string): Promise<string> {
  const client = createRegistryClient({ credentials: dockerConfigCredentials({ env: { ...env(), DOCKER_CONFIG: configDir } }) });
  try {
    return (await client.resolve(`${registry.host}/${f.repo}:${f.tag}`)).descriptor.digest;
  } finally {
    await client.close();
  }
}

test.serial('auths with a base64 auth field, found through $DOCKER_CONFIG', async (t) => {
  const auth = Buffer.from(`${registry.auth!.username}:${registry.auth!.password}`).toString('base64');
  const d = await writeConfig('auths', { auths: { [registry.host]: { auth } } });
  t.is(await resolvesWith(d), f.digest);
});

test.serial('credHelpers for the host run docker-credential-<name> get', async (t) => {
  await fs.rm(helperLog, { force: true });
  const d = await writeConfig('helpers', { credHelpers: { [registry.host]: 'berthtest' } });
  t.is(await resolvesWith(d), f.digest);
  t.regex(await fs.readFile(helperLog, 'utf8'), new RegExp(`^get ${registry.host.replace('.', '\\.')}$`, 'm'));
});

test.serial('credsStore is used for every host; "not found" means anonymous', async (t) => {
  const d = await writeConfig('store', { credsStore: 'berthtest' });
  t.is(await resolvesWith(d), f.digest);
  const creds = dockerConfigCredentials({ env: { ...env(), DOCKER_CONFIG: d } });
  t.is(await creds('other.example:5000'), undefined);
  t.deepEqual(await creds('token.example'), { identityToken: 'refresh-123' });
});

test.serial('identitytoken in auths becomes an identity (refresh) token; a missing config means no credentials', async (t) => {
  const d = await writeConfig('idtoken', { auths: { 'https://index.docker.io/v1/': { identitytoken: 'rt-1' } } });
  const creds = dockerConfigCredentials({ configDir: d, env: env() });
  t.deepEqual(await creds('docker.io'), { identityToken: 'rt-1' });
  t.is(await dockerConfigCredentials({ configDir: path.join(dir.path, 'nowhere') })('docker.io'), undefined);
});

test.serial('a failing or missing helper is ERR_REGISTRY_CREDENTIALS', async (t) => {
  const missing = await t.throwsAsync(runCredentialHelper('does-not-exist', registry.host, env()));
  t.is((missing as { code?: string }).code, 'ERR_REGISTRY_CREDENTIALS');
  const d = await writeConfig('bad', { auths: { [registry.host]: { auth: Buffer.from('no-colon').toString('base64') } } });
  const bad = await t.throwsAsync(dockerConfigCredentials({ configDir: d, env: env() })(registry.host));
  t.is((bad as { code?: string }).code, 'ERR_REGISTRY_CREDENTIALS');
});
