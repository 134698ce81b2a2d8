import test from 'ava';
import { fixture, fixturesDir, tempDir } from '@berth/testkit';

test.serial('fixturesDir() names the command to run when the fixtures are missing', async (t) => {
  const empty = await tempDir();
  t.teardown(() => { delete process.env.BERTH_FIXTURES_DIR; return empty.cleanup(); });
  process.env.BERTH_FIXTURES_DIR = empty.path;
  const e = t.throws(() => fixturesDir());
  t.is((e as Error & { code: string }).code, 'ERR_TESTKIT_FIXTURES_MISSING');
  t.regex(e!.message, /bash scripts\/fixtures/);
});

test.serial('fixture() rejects an unknown name with a typed error', (t) => {
  const e = t.throws(() => fixture('nope', 'oci-gzip'));
  t.is((e as Error & { code: string }).code, 'ERR_TESTKIT_FIXTURE_NOT_FOUND');
});
