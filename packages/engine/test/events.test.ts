import test from 'ava';
import { openJournalEventBus, parseTimestamp, nowNanos, type EngineEvent } from '@berth/engine';
import { tempDir } from './helpers/tmp.js';

test('published events have Docker shape and are replayed with since/until and filters', async (t) => {
  const root = await tempDir();
  const bus = await openJournalEventBus({ root });
  const before = nowNanos();
  const c = await bus.publish({ Type: 'container', Action: 'create', Actor: { ID: 'abc', Attributes: { name: 'web', image: 'busybox' } } });
  t.deepEqual(Object.keys(c).sort(), ['Action', 'Actor', 'Type', 'from', 'id', 'scope', 'status', 'time', 'timeNano']);
  t.is(c.scope, 'local');
  t.is(c.status, 'create');
  t.is(c.from, 'busybox');
  t.is(c.time, Math.floor(c.timeNano / 1e9));
  await bus.publish({ Type: 'volume', Action: 'create', Actor: { ID: 'data', Attributes: { driver: 'local' } } });
  await bus.publish({ Type: 'network', Action: 'connect', Actor: { ID: 'n1', Attributes: { name: 'front', container: 'abc' } } });
  const until = nowNanos();
  const all = async (filters?: Record<string, string[]>) => {
    const out: EngineEvent[] = [];
    for await (const e of bus.subscribe({ since: before, until, filters })) out.push(e);
    return out.map((e) => `${e.Type}:${e.Action}`);
  };
  t.deepEqual(await all(), ['container:create', 'volume:create', 'network:connect']);
  t.deepEqual(await all({ type: ['volume'] }), ['volume:create']);
  t.deepEqual(await all({ container: ['abc'] }), ['container:create', 'network:connect']);
  t.deepEqual(await all({ event: ['create'], type: ['container', 'network'] }), ['container:create']);
  t.throws(() => bus.subscribe({ filters: { colour: ['red'] } }), { code: 'ERR_ENGINE_INVALID_FILTER' });
  // A second bus on the same root (another process) replays the journal too.
  const other = await openJournalEventBus({ root });
  const seen: string[] = [];
  for await (const e of other.subscribe({ since: before, until })) seen.push(e.Action);
  t.deepEqual(seen, ['create', 'create', 'connect']);
  t.is(bus.recent().length, 3);
  await bus.close();
  await bus.close();
  await t.throwsAsync(bus.publish({ Type: 'image', Action: 'pull', Actor: { ID: 'x' } }), { code: 'ERR_ENGINE_CLOSED' });
});

test('live subscribers see events of their own and of another bus on the same root, and stop on abort', async (t) => {
  const root = await tempDir();
  const bus = await openJournalEventBus({ root, pollMs: 50 });
  const other = await openJournalEventBus({ root, pollMs: 50 });
  await bus.publish({ Type: 'volume', Action: 'create', Actor: { ID: 'old' } });
  const ac = new AbortController();
  const seen: string[] = [];
  const it = bus.subscribe({ signal: ac.signal })[Symbol.asyncIterator]();
  const first = it.next();
  await bus.publish({ Type: 'volume', Action: 'create', Actor: { ID: 'mine' } });
  seen.push((await first).value!.Actor.ID);
  const second = it.next();
  await other.publish({ Type: 'volume', Action: 'create', Actor: { ID: 'theirs' } });
  seen.push((await second).value!.Actor.ID);
  const third = it.next();
  ac.abort();
  t.true((await third).done);
  t.deepEqual(seen, ['mine', 'theirs']);
});

test('parseTimestamp accepts unix times, RFC3339 and durations', (t) => {
  t.is(parseTimestamp('1700000000'), 1700000000_000_000_000n);
  t.is(parseTimestamp('1700000000.5'), 1700000000_500_000_000n);
  t.is(parseTimestamp('2023-11-14T22:13:20Z'), 1700000000_000_000_000n);
  t.is(parseTimestamp('2023-11-14T22:13:20.000000001Z'), 1700000000_000_000_001n);
  t.is(parseTimestamp('2023-11-14'), 1699920000_000_000_000n);
  t.is(parseTimestamp('1h30m', 10_000_000_000_000n), 10_000_000_000_000n - 5400_000_000_000n);
  t.throws(() => parseTimestamp('yesterday'), { code: 'ERR_ENGINE_INVALID_TIME' });
});

test('the journal rotates to .1 once past maxBytes, though this process looks at its size only now and then; two buses share it', async (t) => {
  const root = await tempDir();
  const maxBytes = 4096;
  const a = await openJournalEventBus({ root, maxBytes });
  const b = await openJournalEventBus({ root, maxBytes });
  const fs = await import('node:fs/promises');
  for (let i = 0; i < 200; i++) {
    await (i % 2 ? a : b).publish({ Type: 'container', Action: 'create', Actor: { ID: `c${i}`, Attributes: { name: `n${i}` } } });
  }
  const live = (await fs.stat(a.journal)).size;
  const old = (await fs.stat(`${a.journal}.1`)).size;
  t.true(old > maxBytes, `the rotated file (${old} bytes) went past maxBytes first`);
  // Each bus looks at the size after maxBytes / 8 of its own appends: the live file stays within a few lines of the limit.
  t.true(live <= maxBytes + maxBytes / 4 + 1024, `the live journal is ${live} bytes`);
  const lines = (await fs.readFile(a.journal, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as EngineEvent);
  t.is(lines.at(-1)!.Actor.ID, 'c199', 'the newest event is in the live file');
  await a.close();
  await b.close();
});
