/** The snapshotter conformance suite against the overlayfs backend (needs root and overlayfs). */
import fs from 'node:fs';
import { openOverlaySnapshotter } from '@berth/cow-fs';
import { snapshotterSuite } from './suite/snapshotter.js';

const overlayfs = /\toverlay$/m.test(fs.readFileSync('/proc/filesystems', 'utf8'));
snapshotterSuite('overlay', (root) => openOverlaySnapshotter(root), { label: 'root, overlayfs', available: overlayfs });
