// The precompiled validators (src/ajv/compiled/*.cts) are exactly what ajv
// generates from the current schemas, so a schema change cannot silently
// leave a stale validator behind (regenerate with dist/src/ajv/generate.js).
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { compiledSourceDir, compiledValidatorSources } from '../src/ajv/generate.js';

test('every checked-in compiled validator matches a fresh generation, and there are no extra files', (t) => {
  const dir = compiledSourceDir();
  const fresh = compiledValidatorSources();
  t.deepEqual(fs.readdirSync(dir).sort(), [...fresh.keys()].sort());
  for (const [file, source] of fresh) t.is(fs.readFileSync(path.join(dir, file), 'utf8'), source, file);
});
