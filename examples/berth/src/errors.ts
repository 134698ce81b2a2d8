/** The berth CLI's typed errors (usage mistakes); engine errors pass through unchanged. */
import { BerthError, ErrorKind, type BerthErrorOptions } from '@berth/oci-spec';

/** The CLI's error codes. */
export const CliErrorCode = {
  UnknownCommand: 'ERR_CLI_UNKNOWN_COMMAND',
  UnknownFlag: 'ERR_CLI_UNKNOWN_FLAG',
  MissingValue: 'ERR_CLI_MISSING_VALUE',
  InvalidValue: 'ERR_CLI_INVALID_VALUE',
  Arguments: 'ERR_CLI_ARGUMENTS',
  Template: 'ERR_CLI_TEMPLATE',
} as const;
/** One of {@link CliErrorCode}. */
export type CliErrorCode = (typeof CliErrorCode)[keyof typeof CliErrorCode];

/** A command-line usage error; `command` is the path for the "See 'berth … --help'" hint. */
export class CliUsageError extends BerthError {
  declare readonly code: CliErrorCode;
  readonly command: string;
  constructor(code: CliErrorCode, command: string, message: string, options: BerthErrorOptions = {}) {
    super(code, ErrorKind.InvalidArgument, message, { ...options, details: { command, ...options.details } });
    this.command = command;
  }
}

/** A `--format` template that cannot be parsed or executed. */
export class TemplateError extends BerthError {
  constructor(template: string, reason: string) {
    super(CliErrorCode.Template, ErrorKind.InvalidArgument, `template ${JSON.stringify(template)}: ${reason}`, { details: { template, reason } });
  }
}
