import test from 'ava';
import type { TestRegistry } from '@berth/testkit';
import { nowNanos, openJournalEventBus, type EngineEvent } from '@berth/engine';
import { openImages, startSeededRegistry } from './helpers/images-env.js';
import { isRoot, tempDir } from './helpers/tmp.js';

const serial = isRoot ? test.serial : test.skip;
let reg: TestRegistry;

test.before(async () => { if (isRoot) reg = await startSeededRegistry(); });
test.after.always(async () => { await reg?.close(); });

serial('image events reach the engine event bus in Docker shape: pull, tag, untag, delete (root)', async (t) => {
  const root = await tempDir('berth-images-events-');
  const bus = await openJournalEventBus({ root });
  t.teardown(() => bus.close());
  const { images, close } = await openImages({ root, events: bus });
  t.teardown(close);
  const since = nowNanos();
  const ref = `${reg.host}/busybox:oci-gzip`;
  const { id } = await images.pull(ref);
  await images.tag(ref, 'evt:1');
  await images.remove('evt:1');
  await images.remove(ref);
  const events: EngineEvent[] = [];
  for await (const e of bus.subscribe({ since, until: nowNanos(), filters: { type: ['image'] } })) events.push(e);
  t.deepEqual(events.map((e) => e.Action), ['pull', 'tag', 'untag', 'untag', 'delete']);
  const pull = events[0]!;
  t.is(pull.Type, 'image');
  t.is(pull.Actor.ID, ref);
  t.is(pull.Actor.Attributes.name, `${reg.host}/busybox`);
  t.is(events[1]!.Actor.ID, id);
  t.is(events[1]!.Actor.Attributes.name, 'evt:1');
  t.is(events[4]!.Actor.ID, id);
  t.is(typeof pull.timeNano, 'number');
});
