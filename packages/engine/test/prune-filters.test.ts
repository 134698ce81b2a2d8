import test from 'ava';
import { pruneFilter, labelMatches, isoToNs } from '../src/internal/prune-filters.js';

const at = (iso: string, labels: Record<string, string> = {}) => ({ createdNs: isoToNs(iso), labels });

test('prune filters: until keeps what was created at or after it; label needs every one; label! drops what carries every one', (t) => {
  const until = pruneFilter({ until: ['2026-01-02T00:00:00Z'] });
  t.true(until(at('2026-01-01T23:59:59.999999999Z')));
  t.false(until(at('2026-01-02T00:00:00Z')));
  const label = pruneFilter({ label: ['a', 'b=2'] });
  t.true(label(at('2026-01-01T00:00:00Z', { a: 'x', b: '2' })));
  t.false(label(at('2026-01-01T00:00:00Z', { a: 'x', b: '3' })));
  t.false(label(at('2026-01-01T00:00:00Z', { b: '2' })));
  const not = pruneFilter({ 'label!': ['keep', 'tier=db'] });
  t.false(not(at('2026-01-01T00:00:00Z', { keep: '', tier: 'db' })));
  t.true(not(at('2026-01-01T00:00:00Z', { keep: '' })), 'only what carries all of them is kept back');
  t.true(pruneFilter()(at('2026-01-01T00:00:00Z')), 'no filter: everything');
  t.true(pruneFilter({ dangling: ['true'] }, ['dangling'])(at('2026-01-01T00:00:00Z')), 'a key the caller handles passes');
});

test('prune filters: an unknown key, two until values or a bad time are typed errors, before anything is looked at', (t) => {
  t.throws(() => pruneFilter({ name: ['x'] }), { code: 'ERR_ENGINE_INVALID_FILTER' });
  t.throws(() => pruneFilter({ until: ['1h', '2h'] }), { code: 'ERR_ENGINE_INVALID_FILTER' });
  t.throws(() => pruneFilter({ until: ['yesterday'] }), { code: 'ERR_ENGINE_INVALID_TIME' });
  t.true(labelMatches({ k: 'v' }, 'k'));
  t.false(labelMatches({ k: 'v' }, 'k=w'));
  t.is(isoToNs('2026-01-01T00:00:00.000000001Z') % 1_000_000_000n, 1n, 'nanoseconds kept');
});
