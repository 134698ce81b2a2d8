import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Files of a generated CA plus a server certificate it signed. */
export interface TlsFiles {
  caPath: string;
  caPem: string;
  certPath: string;
  keyPath: string;
}

/** Generates (openssl) a CA and a server certificate for 127.0.0.1, ::1 and localhost, in `dir`. */
export async function generateTls(dir: string): Promise<TlsFiles> {
  const p = (f: string) => path.join(dir, f);
  await run('openssl', ['req', '-x509', '-new', ...EC, '-keyout', p('ca.key'), '-out', p('ca.pem'), '-days', '7',
    '-subj', '/CN=berth test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await run('openssl', ['req', '-new', ...EC, '-keyout', p('server.key'), '-out', p('server.csr'), '-subj', '/CN=127.0.0.1']);
  await fs.writeFile(p('server.ext'), [
    'basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth', 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost', '',
  ].join('\n'));
  await run('openssl', ['x509', '-req', '-in', p('server.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial',
    '-out', p('server.pem'), '-days', '7', '-extfile', p('server.ext')]);
  return { caPath: p('ca.pem'), caPem: await fs.readFile(p('ca.pem'), 'utf8'), certPath: p('server.pem'), keyPath: p('server.key') };
}

/** Generates (openssl) a self-signed RSA 2048 certificate used to sign registry tokens (RS256). */
export async function generateTokenCert(dir: string): Promise<{ certPath: string; certPem: string; keyPem: string }> {
  const cert = path.join(dir, 'token.pem');
  const key = path.join(dir, 'token.key');
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '7', '-subj', '/CN=berth token issuer']);
  return { certPath: cert, certPem: await fs.readFile(cert, 'utf8'), keyPem: await fs.readFile(key, 'utf8') };
}

/** Bcrypt htpasswd lines (`htpasswd -Bbn`, apache2-utils) for the given users. */
export async function htpasswdLines(users: ReadonlyArray<{ username: string; password: string }>): Promise<string> {
  const lines = await Promise.all(users.map(async (u) => (await run('htpasswd', ['-Bbn', u.username, u.password])).stdout.trim()));
  return `${lines.join('\n')}\n`;
}
