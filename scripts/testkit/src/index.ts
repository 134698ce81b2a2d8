/**
 * @berth/testkit: private test helpers shared by berth's packages. Fixture images built by
 * `bash scripts/fixtures` (listFixtures, fixture, readFixtureManifest, fixtureBlobPath), a real
 * docker-registry on 127.0.0.1 (startRegistry: plain, TLS, basic or token auth, seeded with the
 * fixtures), temp dirs, and the benchmark contract run by `npm run bench`. It imports nothing of
 * berth's, so any package may depend on it for tests without creating a cycle.
 */
export { TestkitError } from './errors.js';
export { FixtureVariants } from './fixture.js';
export type { FixtureBlob, FixtureImage, FixturePlatform, FixtureVariant } from './fixture.js';
export {
  cacheDir, fixture, fixtureBlobPath, fixtureTransportRef, fixturesDir, listFixtures, readFixtureManifest,
  registrySeedDir, repoRoot, walkFixture,
} from './cache/fixtures.js';
export type { RegistryAuthMode, RegistryUser, StartRegistryOptions, TestRegistry } from './registry.js';
export { freePort, startRegistry } from './docker-registry/start-registry.js';
export { tempDir } from './temp-dir.js';
export type { TempDir } from './temp-dir.js';
export { commandExists, runCommand } from './child-process/run-command.js';
export type { Benchmark, CommandResult, RunCommandOptions } from './bench.js';
