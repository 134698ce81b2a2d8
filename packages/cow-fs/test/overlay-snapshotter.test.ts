/** The snapshotter conformance suite against the overlayfs backend (root, overlayfs). */
import { openOverlaySnapshotter } from '@berth/cow-fs';
import { snapshotterSuite } from './suite/snapshotter.js';

snapshotterSuite('overlay', (root) => openOverlaySnapshotter(root));
