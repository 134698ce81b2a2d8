/**
 * applyLayerToMounts: applies a layer into a snapshot given by its mounts,
 * without mounting: into an overlay mount's upper dir with overlay
 * whiteouts (its lowerdirs serve parent symlinks and hardlink copy-up), or
 * into a bind mount's source with whiteouts applied.
 */
import type { Readable } from 'node:stream';
import { SnapshotterUnsupportedError } from '../errors.js';
import type { Mount } from '../snapshotter.js';
import { applyLayer, WhiteoutMode, type ApplyLayerOptions, type ApplyLayerResult } from './apply.js';
import fs from 'node:fs';

/** Applies a layer into the snapshot whose mounts are `mounts`; see {@link applyLayer}. */
export async function applyLayerToMounts(mounts: Mount[], input: Readable | AsyncIterable<Uint8Array>, opts: Omit<ApplyLayerOptions, 'convertWhiteout' | 'lowers'> = {}): Promise<ApplyLayerResult> {
  const m = mounts.length === 1 ? mounts[0]! : undefined;
  if (m?.type === 'overlay') {
    const upper = m.options.find((o) => o.startsWith('upperdir='))?.slice('upperdir='.length);
    const lowers = m.options.find((o) => o.startsWith('lowerdir='))?.slice('lowerdir='.length).split(':') ?? [];
    if (upper !== undefined) {
      return applyLayer(upper, input, { ...opts, convertWhiteout: WhiteoutMode.Overlay, lowers: lowers.map((l) => fs.realpathSync(l)) });
    }
  }
  if (m?.type === 'bind' && !m.options.includes('ro')) return applyLayer(m.source, input, { ...opts, convertWhiteout: WhiteoutMode.Apply });
  throw new SnapshotterUnsupportedError('applyLayerToMounts needs one writable bind or overlay mount');
}
