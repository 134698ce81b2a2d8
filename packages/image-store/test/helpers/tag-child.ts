/**
 * A child process for the multi-process test: tags `count` names
 * `<prefix>-<i>` at the manifest given as JSON, and writes one shared blob
 * under its own ingest ref, in the store at argv[2].
 *
 *   node tag-child.js <root> <prefix> <count> <descriptor-json> <blob-size>
 */
import { openLocalStore, writeBlob } from '@berth/image-store';
import { randomStream, randomDigest } from './random.js';

const [root, prefix, countText, descJson, blobSizeText] = process.argv.slice(2);
const store = await openLocalStore(root!);
const desc = JSON.parse(descJson!);
const blobSize = Number(blobSizeText);
const shared = writeBlob(store, `shared-${prefix}`, randomStream(blobSize, 'shared', 65536), { digest: randomDigest(blobSize, 'shared'), size: blobSize });
for (let i = 0; i < Number(countText); i++) await store.images.tag(`example.com/${prefix}/img:${i}`, desc);
const { written } = await shared;
process.stdout.write(JSON.stringify({ written }));
