// Fetch and verify one 22 MB layer blob from a local docker-registry: Node's HTTP client
// hashing the stream as it arrives (how berth's registry client reads blobs) against
// `curl | sha256sum`. Both download the same blob from the same registry, in the same run.
import crypto from 'node:crypto';
import http from 'node:http';
import { pipeline } from 'node:stream/promises';
import {
  commandExists, fixture, readFixtureManifest, runCommand, startRegistry,
  type Benchmark, type TestRegistry,
} from '@berth/testkit';

let registry: TestRegistry | undefined;
let users = 0;
let blob = { url: '', digest: '' };

async function acquire(): Promise<void> {
  if (users++ === 0) {
    registry = await startRegistry();
    const f = fixture('multilayer', 'oci-gzip');
    const layers = (JSON.parse(readFixtureManifest(f).bytes.toString()) as { layers: Array<{ digest: string; size: number }> }).layers;
    const biggest = layers.reduce((a, b) => (b.size > a.size ? b : a));
    blob = { url: `${registry.url}/v2/${f.repo}/blobs/${biggest.digest}`, digest: biggest.digest };
  }
}

async function release(): Promise<void> {
  if (--users === 0) await registry?.close();
}

function nodeFetch(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      if (res.statusCode !== 200) { res.resume(); reject(new Error(`GET ${url}: ${res.statusCode}`)); return; }
      const hash = crypto.createHash('sha256');
      pipeline(res, hash).then(() => resolve(`sha256:${hash.digest('hex')}`), reject);
    }).on('error', reject);
  });
}

/** The benchmark entries of this file. */
export const benchmarks: Benchmark[] = [
  {
    group: 'registry: fetch and verify a 22 MB blob',
    name: 'node:http + sha256 (berth)',
    tool: 'berth',
    iterations: 15,
    warmup: 2,
    setup: acquire,
    teardown: release,
    async run() {
      const d = await nodeFetch(blob.url);
      if (d !== blob.digest) throw new Error(`digest mismatch: ${d}`);
    },
  },
  {
    group: 'registry: fetch and verify a 22 MB blob',
    name: 'curl | sha256sum',
    tool: 'curl',
    iterations: 15,
    warmup: 2,
    available: () => commandExists('curl') && commandExists('sha256sum'),
    setup: acquire,
    teardown: release,
    async run() {
      const { stdout } = await runCommand('sh', ['-c', 'curl -sSf "$1" | sha256sum', 'sh', blob.url]);
      if (`sha256:${stdout.toString().slice(0, 64)}` !== blob.digest) throw new Error('digest mismatch');
    },
  },
];
