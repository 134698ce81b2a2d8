/**
 * What @berth/cow-fs publishes on `node:diagnostics_channel` (it never logs).
 * The engine or CLI subscribes: `diagnostics_channel.subscribe(CowFsChannel.LayerApplied, fn)`.
 */
import diagnosticsChannel from 'node:diagnostics_channel';

/** Channel names, as a constant object. */
export const CowFsChannel = {
  /** A layer was applied: {@link LayerAppliedMessage}. */
  LayerApplied: 'berth:cow-fs:layer-applied',
  /** A snapshot was committed or removed: {@link SnapshotEventMessage}. */
  Snapshot: 'berth:cow-fs:snapshot',
} as const;

/** The message of {@link CowFsChannel.LayerApplied}. */
export interface LayerAppliedMessage {
  target: string;
  diffId: string;
  compression: string;
  size: number;
  compressedSize: number;
  entries: number;
  /** Wall-clock milliseconds, syncfs included. */
  ms: number;
}

/** The message of {@link CowFsChannel.Snapshot}. */
export interface SnapshotEventMessage {
  event: 'prepare' | 'view' | 'commit' | 'remove';
  root: string;
  key: string;
  /** The committed name, for commits. */
  name?: string;
}

const layerApplied = diagnosticsChannel.channel(CowFsChannel.LayerApplied);
const snapshot = diagnosticsChannel.channel(CowFsChannel.Snapshot);

/** Publishes a {@link LayerAppliedMessage} when someone listens. */
export function publishLayerApplied(m: LayerAppliedMessage): void {
  if (layerApplied.hasSubscribers) layerApplied.publish(m);
}

/** Publishes a {@link SnapshotEventMessage} when someone listens. */
export function publishSnapshotEvent(m: SnapshotEventMessage): void {
  if (snapshot.hasSubscribers) snapshot.publish(m);
}
