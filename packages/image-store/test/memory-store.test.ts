import { createMemoryStore } from '@berth/image-store';
import { contentStoreSuite } from './suite/content-store.js';

contentStoreSuite('memory', async () => createMemoryStore());
