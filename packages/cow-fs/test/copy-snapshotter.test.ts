/** The snapshotter conformance suite against the copy backend (root for owners and mounts). */
import { openCopySnapshotter } from '@berth/cow-fs';
import { snapshotterSuite } from './suite/snapshotter.js';

snapshotterSuite('copy', (root) => openCopySnapshotter(root));
