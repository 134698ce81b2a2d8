/**
 * The berth command-line engine (example): a daemonless, docker-compatible
 * CLI over @berth/engine. `runCli` is the binary's entry point, exported for
 * tests and for embedding.
 */
export { runCli, rootCommand, defaultRoot, defaultRunRoot, type CliIo } from './cli.js';
export { parseCommandLine, parseFlags, helpText, type CommandSpec, type FlagSpec, type FlagType, type FlagValues, type ParsedCommand } from './args.js';
export { compileFormat, alignColumns, goString, type Formatter } from './format.js';
export { exitCodeForError } from './exit-codes.js';
export { CliUsageError, TemplateError, CliErrorCode } from './errors.js';
export { createOptionsFrom, createFlags, runFlags } from './commands/run-options.js';
export { eventLine } from './commands/system.js';
export { statsCommand, statsRow, cpuPercent, memoryUsed, bytesSize, humanSize3, defaultStatsFormat, type StatsRow } from './commands/stats.js';
export type { CliContext } from './context.js';
export { lazyLocalImages, type LazyImageService, type LazyImagesOptions } from './lazy-images.js';
