import { spawn, type ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { TestkitError } from '../errors.js';
import { registrySeedDir } from '../cache/fixtures.js';
import type { RegistryUser, StartRegistryOptions, TestRegistry } from '../registry.js';
import { tempDir } from '../temp-dir.js';
import { startTokenServer, type TokenServer } from '../token-server/token-server.js';
import { generateTls, generateTokenCert, htpasswdLines } from './openssl.js';

const execFileP = promisify(execFile);

// Registries still running when the process exits (a crashed test) are killed then.
const live = new Set<ChildProcess>();
process.once('exit', () => { for (const c of live) c.kill('SIGKILL'); });

/** A free TCP port on 127.0.0.1 (the kernel's choice; a race with other binders is retried by the caller). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** One GET, resolving with the status code (any), rejecting on connection errors. */
export function probe(url: string, ca?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.get(url, { ...(ca ? { ca } : {}), timeout: 2000 }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', reject);
  });
}

/** Waits until `GET <url>/v2/` answers 200 or 401, or the child exits. */
async function waitReady(url: string, child: ChildProcess, logPath: string, ca?: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const log = await fsp.readFile(logPath, 'utf8').catch(() => '');
      throw new TestkitError('ERR_TESTKIT_REGISTRY_START', `docker-registry exited with ${child.exitCode ?? child.signalCode}: ${log.slice(-2000)}`);
    }
    try {
      const status = await probe(`${url}/v2/`, ca);
      if (status === 200 || status === 401) return;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new TestkitError('ERR_TESTKIT_REGISTRY_START', `docker-registry did not answer on ${url}/v2/ (log: ${logPath})`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => { clearTimeout(kill); resolve(); });
    child.kill('SIGTERM');
  });
}

/** Copies the cached seed storage (every fixture pushed) into `storage`, reflinked where the filesystem can. */
export async function seedStorage(storage: string): Promise<void> {
  await fsp.mkdir(storage, { recursive: true });
  await execFileP('cp', ['-a', '--reflink=auto', `${registrySeedDir()}/.`, `${storage}/`]);
}

/**
 * Starts Debian's `docker-registry serve` (distribution 2.8) on 127.0.0.1 on a free port, with
 * temporary storage and `storage.delete.enabled: true`; resolves once `GET /v2/` answers.
 * With `seed` (default) the storage starts as a copy of the fixture seed: every fixture is
 * there as `<repo>:<tag>` (see `listFixtures()`), with the same digests.
 */
export async function startRegistry(opts: StartRegistryOptions = {}): Promise<TestRegistry> {
  const auth = opts.auth ?? 'none';
  const tls = opts.tls ?? false;
  const seed = opts.seed ?? true;
  const users: RegistryUser[] = [...(opts.users ?? [{ username: 'berth', password: crypto.randomBytes(12).toString('base64url') }])];
  const tmp = await tempDir('berth-registry-');
  const storageDir = path.join(tmp.path, 'storage');
  const logPath = path.join(tmp.path, 'registry.log');
  let token: TokenServer | undefined;
  try {
    if (seed) await seedStorage(storageDir);
    else await fsp.mkdir(storageDir, { recursive: true });

    const tlsFiles = tls ? await generateTls(tmp.path) : undefined;
    let authConfig: object | undefined;
    let tokenService: string | undefined;
    if (auth === 'basic') {
      const htpasswd = path.join(tmp.path, 'htpasswd');
      await fsp.writeFile(htpasswd, await htpasswdLines(users));
      authConfig = { htpasswd: { realm: 'berth-test-registry', path: htpasswd } };
    } else if (auth === 'token') {
      const cert = await generateTokenCert(tmp.path);
      tokenService = 'berth-test-registry';
      const issuer = 'berth-test-token-issuer';
      token = await startTokenServer({ issuer, service: tokenService, certPem: cert.certPem, keyPem: cert.keyPem, users, anonymousPull: opts.anonymousPull ?? false });
      authConfig = { token: { realm: token.realm, service: tokenService, issuer, rootcertbundle: cert.certPath } };
    }

    const scheme = tls ? 'https' : 'http';
    for (let attempt = 0; ; attempt++) {
      const port = await freePort();
      // distribution reads its config with a YAML parser; JSON is YAML.
      const config = {
        version: '0.1',
        log: { level: 'warn', formatter: 'text', accesslog: { disabled: true } },
        storage: {
          filesystem: { rootdirectory: storageDir },
          delete: { enabled: true },
          maintenance: { uploadpurging: { enabled: false } },
        },
        http: {
          addr: `127.0.0.1:${port}`,
          secret: crypto.randomBytes(16).toString('hex'),
          ...(tlsFiles ? { tls: { certificate: tlsFiles.certPath, key: tlsFiles.keyPath } } : {}),
        },
        ...(authConfig ? { auth: authConfig } : {}),
      };
      const configPath = path.join(tmp.path, 'config.yml');
      await fsp.writeFile(configPath, JSON.stringify(config, null, 2));
      const log = fs.openSync(logPath, 'a');
      const child = spawn('docker-registry', ['serve', configPath], { stdio: ['ignore', log, log] });
      fs.closeSync(log);
      live.add(child);
      child.once('exit', () => live.delete(child));
      const url = `${scheme}://127.0.0.1:${port}`;
      try {
        await waitReady(url, child, logPath, tlsFiles?.caPem);
      } catch (e) {
        await stop(child);
        // A free port can be taken before docker-registry binds it, or be
        // redirected by another test's iptables DNAT (CNI portmap publishes
        // ports on 127.0.0.1 without a socket): either way, try another port.
        if (attempt < 3) continue;
        throw e;
      }
      let closed: Promise<void> | undefined;
      const registry: TestRegistry = {
        host: `127.0.0.1:${port}`,
        url,
        users,
        storageDir,
        logPath,
        ...(auth !== 'none' && users[0] ? { auth: { username: users[0].username, password: users[0].password } } : {}),
        ...(tlsFiles ? { caPath: tlsFiles.caPath, caPem: tlsFiles.caPem } : {}),
        ...(token ? { tokenRealm: token.realm, tokenService } : {}),
        close: () => (closed ??= (async () => {
          await stop(child);
          await token?.close();
          await tmp.cleanup();
        })()),
      };
      return registry;
    }
  } catch (e) {
    await token?.close();
    await tmp.cleanup();
    throw e;
  }
}
