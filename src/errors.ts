// Runner-side errors about input and environment. Each carries the exit code the CLI wrapper uses
// (DESIGN §9); library code throws them and never calls process.exit itself.

/** Base: a problem the user must fix; `exitCode` is what the process ends with. */
export class RunnerError extends Error {
  readonly exitCode: number = 1;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad command line or option value. */
export class UsageError extends RunnerError {
  override readonly exitCode = 2;
}

/** The prompt file is unreadable or invalid; the message names file, line and column. */
export class PromptFileError extends RunnerError {
  override readonly exitCode = 2;
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    readonly detail: string,
  ) {
    super(`${file}:${line}:${column}: ${detail}`);
  }
}

/** Checkpoint files exist but cannot be read; they are left untouched. */
export class CheckpointError extends RunnerError {
  override readonly exitCode = 2;
}

/** No usable Chromium was found. */
export class BrowserNotFoundError extends RunnerError {
  override readonly exitCode = 2;
}

/** A headful run was asked for on a machine without a display. */
export class NoDisplayError extends RunnerError {
  override readonly exitCode = 2;
}

/** Another process holds the profile or the book. */
export class LockedError extends RunnerError {
  override readonly exitCode = 2;
  constructor(message: string, readonly pid?: number) {
    super(message);
  }
}

/** A login wall or challenge needs a person; headless runs stop with code 3. */
export class HumanNeededError extends RunnerError {
  override readonly exitCode = 3;
}

/** The user interrupted the run; state is saved. */
export class InterruptedError extends RunnerError {
  override readonly exitCode = 130;
}
