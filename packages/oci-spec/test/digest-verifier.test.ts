import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import test from 'ava';
import {
  EMPTY_JSON_DESCRIPTOR, createDigester, createVerifier, descriptorOf, digestAlgorithm, validateDescriptor, digestHex, digestOf, formatDigest, isDataLoss, isDigest,
  parseDigest, type Digest,
} from '@berth/oci-spec';

/**
 * Feeds `data` in chunks of `chunk` bytes through `transform` into a sink; returns the
 * pipeline's error (if any), what reached the sink and whether the sink finished.
 */
async function feed(data: Buffer, transform: NodeJS.ReadWriteStream, chunk = 4096) {
  const parts: Buffer[] = [];
  let finished = false;
  const sink = new Writable({
    write(c: Buffer, _e, cb) { parts.push(c); cb(); },
    final(cb) { finished = true; cb(); },
  });
  const chunks = function* () { for (let i = 0; i < data.length; i += chunk) yield data.subarray(i, i + chunk); };
  const error = await pipeline(Readable.from(chunks()), transform, sink).then(() => undefined, (e: unknown) => e);
  return { error, out: Buffer.concat(parts), finished };
}

/** {@link feed} for a stream that must succeed: rethrows its error. */
async function run(data: Buffer, transform: NodeJS.ReadWriteStream, chunk = 4096): Promise<{ out: Buffer; finished: boolean }> {
  const { error, out, finished } = await feed(data, transform, chunk);
  if (error !== undefined) throw error;
  return { out, finished };
}

/** {@link feed} for a stream expected to fail: its error, and how many bytes got through. */
async function runExpectingFailure(data: Buffer, transform: NodeJS.ReadWriteStream, chunk = 4096) {
  const { error, out, finished } = await feed(data, transform, chunk);
  return { error: error as { code?: string; kind?: string } | undefined, received: out.length, finished };
}

const data = randomBytes(1024 * 1024 + 17);
const good = digestOf(data);

test('parseDigest accepts sha256 and sha512 and rejects the rest with codes', (t) => {
  const h256 = 'a'.repeat(64);
  const h512 = 'b'.repeat(128);
  t.is(parseDigest(`sha256:${h256}`), `sha256:${h256}` as Digest);
  t.is(parseDigest(`sha512:${h512}`), `sha512:${h512}` as Digest);
  t.is(formatDigest('sha512', h512), `sha512:${h512}` as Digest);
  const code = (s: string) => (t.throws(() => parseDigest(s)) as { code?: string }).code;
  t.is(code(`sha256:${'a'.repeat(63)}`), 'ERR_OCI_INVALID_DIGEST');
  t.is(code(`sha256:${'a'.repeat(128)}`), 'ERR_OCI_INVALID_DIGEST');
  t.is(code(`sha512:${'a'.repeat(64)}`), 'ERR_OCI_INVALID_DIGEST');
  t.is(code(`sha256:${'A'.repeat(64)}`), 'ERR_OCI_INVALID_DIGEST');
  t.is(code(`sha256:${'g'.repeat(64)}`), 'ERR_OCI_INVALID_DIGEST');
  t.is(code('sha256'), 'ERR_OCI_INVALID_DIGEST');
  t.is(code(':abc'), 'ERR_OCI_INVALID_DIGEST');
  t.is(code(`SHA256:${h256}`), 'ERR_OCI_INVALID_DIGEST');
  t.is(code(`sha384:${'a'.repeat(96)}`), 'ERR_OCI_UNSUPPORTED_DIGEST_ALGORITHM');
  t.false(isDigest(`sha256:${'a'.repeat(65)}`));
  t.true(isDigest(good));
});

test('descriptorOf and the empty descriptor', (t) => {
  const d = descriptorOf('application/vnd.oci.empty.v1+json', '{}', { data: 'e30=' });
  t.deepEqual(d, { ...EMPTY_JSON_DESCRIPTOR });
  t.is(descriptorOf('text/plain', 'héllo').size, 6);
  t.is(validateDescriptor(d).size, 2);
});

test('digestOf matches known vectors', (t) => {
  t.is(digestOf(''), 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' as Digest);
  t.is(digestOf('{}'), 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a' as Digest);
  const d = digestOf('abc', 'sha512');
  t.is(digestAlgorithm(d), 'sha512');
  t.is(digestHex(d).slice(0, 16), 'ddaf35a193617aba');
});

test('the digester passes bytes through and reports digest and size', async (t) => {
  const d = createDigester();
  t.is((t.throws(() => d.digest()) as { code?: string }).code, 'ERR_OCI_DIGEST_NOT_READY');
  const { out, finished } = await run(data, d);
  t.true(finished);
  t.true(out.equals(data));
  t.is(d.digest(), good);
  t.is(d.size, data.length);
});

test('the verifier passes matching content and verifies it', async (t) => {
  const v = createVerifier({ digest: good, size: data.length });
  const { out, finished } = await run(data, v);
  t.true(finished);
  t.true(out.equals(data));
  t.is(v.digest(), good);
});

test('the verifier catches a single flipped byte (data-loss) and never finishes', async (t) => {
  for (const at of [0, 4096, 500_000, data.length - 1]) {
    const bad = Buffer.from(data);
    bad[at] = bad[at]! ^ 0x01;
    const v = createVerifier({ digest: good, size: data.length });
    const r = await runExpectingFailure(bad, v);
    t.is(r.error?.code, 'ERR_OCI_DIGEST_MISMATCH', `flip at ${at}`);
    t.true(isDataLoss(r.error));
    t.false(r.finished);
    // The last chunk is held back: the sink never has the whole corrupt blob.
    t.true(r.received < data.length);
    t.is((t.throws(() => v.digest()) as { code?: string }).code, 'ERR_OCI_DIGEST_NOT_READY');
  }
});

test('the verifier catches a flipped byte without a known size, too', async (t) => {
  const bad = Buffer.from(data);
  bad[12345] = bad[12345]! ^ 0x80;
  const r = await runExpectingFailure(bad, createVerifier({ digest: good }));
  t.is(r.error?.code, 'ERR_OCI_DIGEST_MISMATCH');
  t.false(r.finished);
});

test('the verifier fails at once when content overflows the expected size', async (t) => {
  const longer = Buffer.concat([data, Buffer.alloc(10 * 4096)]);
  const v = createVerifier({ digest: good, size: data.length });
  const r = await runExpectingFailure(longer, v);
  t.is(r.error?.code, 'ERR_OCI_SIZE_MISMATCH');
  t.is(r.error?.kind, 'data-loss');
  t.false(r.finished);
  // It stopped at the first chunk past the size, not at the end of the input.
  t.true(v.size <= data.length + 4096);
});

test('the verifier fails truncated content with a size mismatch', async (t) => {
  const r = await runExpectingFailure(data.subarray(0, data.length - 1), createVerifier({ digest: good, size: data.length }));
  t.is(r.error?.code, 'ERR_OCI_SIZE_MISMATCH');
  t.false(r.finished);
});

test('the verifier handles empty content', async (t) => {
  const empty = Buffer.alloc(0);
  const v = createVerifier({ digest: digestOf(empty), size: 0 });
  const { finished } = await run(empty, v);
  t.true(finished);
  const r = await runExpectingFailure(Buffer.from('x'), createVerifier({ digest: digestOf(empty), size: 0 }));
  t.is(r.error?.code, 'ERR_OCI_SIZE_MISMATCH');
});

test('the verifier verifies sha512 digests', async (t) => {
  const d512 = digestOf(data, 'sha512');
  const v = createVerifier({ digest: d512 });
  await run(data, v);
  t.is(v.digest(), d512);
  t.is(v.algorithm, 'sha512');
});

test('the verifier refuses a malformed expected digest up front', (t) => {
  t.is((t.throws(() => createVerifier({ digest: 'sha256:xyz' as Digest })) as { code?: string }).code, 'ERR_OCI_INVALID_DIGEST');
  t.is((t.throws(() => createVerifier({ digest: good, size: -1 })) as { code?: string }).code, 'ERR_OCI_INVALID_SIZE');
});
