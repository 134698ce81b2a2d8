import test from 'ava';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { openJsonFileLogWriter, readJsonFileLog, maxLogLine, parseRfc3339Nano, type LogEntry } from '@berth/engine';
import { tempDir } from './helpers/tmp.js';

async function collect(it: AsyncIterable<LogEntry>): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for await (const e of it) out.push(e);
  return out;
}

test('writes Docker json-file lines, splitting and joining partial chunks per stream', async (t) => {
  const dir = await tempDir();
  const file = path.join(dir, 'c-json.log');
  const w = await openJsonFileLogWriter(file);
  await Promise.all([
    w.attach('stdout', Readable.from([Buffer.from('hel'), Buffer.from('lo\nwor'), Buffer.from('ld\n'), Buffer.from('tail')])),
    w.attach('stderr', Readable.from(['oops\n'])),
  ]);
  await w.close();
  await w.close();
  const lines = (await fs.readFile(file, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l));
  const out = lines.filter((l) => l.stream === 'stdout').map((l) => l.log);
  t.deepEqual(out, ['hello\n', 'world\n', 'tail']);
  t.deepEqual(lines.filter((l) => l.stream === 'stderr').map((l) => l.log), ['oops\n']);
  for (const l of lines) {
    t.deepEqual(Object.keys(l), ['log', 'stream', 'time']);
    t.regex(l.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/);
  }
});

test('multi-byte characters split across chunks survive', async (t) => {
  const file = path.join(await tempDir(), 'log');
  const w = await openJsonFileLogWriter(file);
  const bytes = Buffer.from('héllo €\n');
  await w.attach('stdout', Readable.from([bytes.subarray(0, 2), bytes.subarray(2, 9), bytes.subarray(9)]));
  await w.close();
  t.deepEqual((await collect(readJsonFileLog(file))).map((e) => e.log), ['héllo €\n']);
});

test('lines longer than 16K are split into 16K entries', async (t) => {
  const file = path.join(await tempDir(), 'log');
  const w = await openJsonFileLogWriter(file);
  await w.write('stdout', `${'x'.repeat(maxLogLine + 10)}\n`);
  await w.close();
  const e = await collect(readJsonFileLog(file));
  t.is(e.length, 2);
  t.is(e[0]!.log.length, maxLogLine);
  t.is(e[1]!.log, `${'x'.repeat(10)}\n`);
});

test('tail, since, until and stream selection', async (t) => {
  const file = path.join(await tempDir(), 'log');
  const w = await openJsonFileLogWriter(file);
  for (let i = 0; i < 10; i++) await w.write(i % 2 ? 'stderr' : 'stdout', `line ${i}\n`);
  await w.close();
  const all = await collect(readJsonFileLog(file));
  t.is(all.length, 10);
  t.deepEqual((await collect(readJsonFileLog(file, { tail: 3 }))).map((e) => e.log), ['line 7\n', 'line 8\n', 'line 9\n']);
  t.deepEqual(await collect(readJsonFileLog(file, { tail: 0 })), []);
  const t5 = parseRfc3339Nano(all[5]!.time)!;
  t.deepEqual((await collect(readJsonFileLog(file, { since: t5 }))).map((e) => e.log), all.slice(5).map((e) => e.log));
  t.deepEqual((await collect(readJsonFileLog(file, { until: t5 }))).map((e) => e.log), all.slice(0, 5).map((e) => e.log));
  t.deepEqual((await collect(readJsonFileLog(file, { streams: ['stderr'] }))).length, 5);
  await t.throwsAsync(collect(readJsonFileLog(path.join(path.dirname(file), 'none'))), { code: 'ERR_ENGINE_LOG_NOT_FOUND' });
});

test('rotation keeps max-file files under max-size, and the reader reads them oldest first', async (t) => {
  const dir = await tempDir();
  const file = path.join(dir, 'log');
  const w = await openJsonFileLogWriter(file, { maxSize: 400, maxFile: 3 });
  for (let i = 0; i < 40; i++) await w.write('stdout', `line ${String(i).padStart(2, '0')}\n`);
  await w.close();
  t.deepEqual((await fs.readdir(dir)).sort(), ['log', 'log.1', 'log.2']);
  for (const f of ['log', 'log.1', 'log.2']) t.true((await fs.stat(path.join(dir, f))).size <= 400);
  const got = (await collect(readJsonFileLog(file))).map((e) => Number(e.log.slice(5, 7)));
  t.true(got.length > 5 && got.length < 40);
  t.deepEqual(got, got.slice().sort((a, b) => a - b));
  t.is(got.at(-1), 39);
});

test('follow yields entries written later, across a rotation, and ends when isDone', async (t) => {
  const file = path.join(await tempDir(), 'log');
  const w = await openJsonFileLogWriter(file, { maxSize: 450, maxFile: 2 }); // one rotation in this test
  await w.write('stdout', 'before\n');
  let done = false;
  const it = readJsonFileLog(file, { follow: true, tail: 1, isDone: () => done });
  const first = await it.next(); // the reader has taken its snapshot
  const seen: string[] = [first.value!.log];
  const reader = (async () => {
    for await (const e of it) seen.push(e.log);
  })();
  for (let i = 0; i < 6; i++) await w.write('stdout', `after ${i}\n`);
  await w.close();
  done = true;
  await reader;
  t.true(await fs.stat(`${file}.1`).then(() => true, () => false), 'rotated once');
  t.deepEqual(seen, ['before\n', ...Array.from({ length: 6 }, (_, i) => `after ${i}\n`)]);
});

test('follow ends when its signal aborts', async (t) => {
  const file = path.join(await tempDir(), 'log');
  const w = await openJsonFileLogWriter(file);
  await w.write('stdout', 'x\n');
  await w.close();
  const ac = new AbortController();
  const seen: string[] = [];
  for await (const e of readJsonFileLog(file, { follow: true, signal: ac.signal })) {
    seen.push(e.log);
    ac.abort();
  }
  t.deepEqual(seen, ['x\n']);
});
