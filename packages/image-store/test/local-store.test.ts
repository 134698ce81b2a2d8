import { openLocalStore } from '@berth/image-store';
import { contentStoreSuite } from './suite/content-store.js';
import { tempDir } from './helpers/temp.js';

contentStoreSuite('local', async (t) => openLocalStore(await tempDir(t)));
