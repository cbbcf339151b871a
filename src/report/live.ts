// The live console on a terminal: the run's lines scroll above a status block that stays at the
// bottom (`renderStatus`), redrawn on events and by the clock, at most four times a second. At
// `run-end` (and on the way out, however the process ends) the block is erased and the summary
// printed as plain lines.
import { createLogUpdate } from 'log-update';
import type { RunEvent } from './events.js';
import { cleanText } from '../protocol/text.js';
import { applyEvent, createStatusState, renderStatus, type StatusState } from './status-block.js';

/** Where the block is drawn. */
export interface Screen {
  /** Prints `above` (lines that stay, scrolling up), then draws `block` below them (replacing the last one). */
  frame(above: readonly string[], block: readonly string[]): void;
  /** Prints `above` and erases the block: what follows is plain output. */
  finish(above: readonly string[]): void;
  /** Cells per line. */
  columns(): number;
}

/** Least time between two frames (at most four a second). */
export const FRAME_MS = 250;
/** How often the block is redrawn with nothing new (the clock, the countdowns). */
export const TICK_MS = 1000;

export interface LiveStatusOptions {
  /** The line an event prints above the block (none: `undefined`). */
  readonly format: (event: RunEvent) => string | undefined;
  /** @default Date.now */
  readonly now?: () => number;
}

export class LiveStatus {
  readonly #screen: Screen;
  readonly #format: (event: RunEvent) => string | undefined;
  readonly #now: () => number;
  #state: StatusState = createStatusState();
  #active = false;
  #pending: string[] = [];
  #lastFrameAt = -Infinity;
  #timer: NodeJS.Timeout | undefined;
  #ticker: NodeJS.Timeout | undefined;

  constructor(screen: Screen, options: LiveStatusOptions) {
    this.#screen = screen;
    this.#format = options.format;
    this.#now = options.now ?? Date.now;
  }

  /** Whether the block is on the screen. */
  get active(): boolean {
    return this.#active;
  }

  get state(): StatusState {
    return this.#state;
  }

  handle(event: RunEvent): void {
    const now = this.#now();
    if (event.type === 'run-start') {
      this.#state = createStatusState();
      this.#active = true;
      this.#ticker ??= setInterval(() => this.#request(), TICK_MS);
      this.#ticker.unref?.();
    }
    applyEvent(this.#state, event, now);
    // Whatever the formatter makes of page text, no control character reaches the terminal
    // (newlines stay: the summary is several lines).
    const raw = this.#format(event);
    const line = raw === undefined ? undefined : cleanText(raw);
    if (event.type === 'run-end') {
      if (line !== undefined) this.#pending.push(line);
      this.close();
      return;
    }
    if (line !== undefined) this.#pending.push(line);
    if (!this.#active) {
      this.#flushPlain();
      return;
    }
    this.#request();
  }

  /**
   * Takes the block off the screen, printing what is pending, so that other output (stderr) can be
   * written in its place; `resume` draws it again below that output.
   */
  suspend(): void {
    this.#clearTimer();
    const above = this.#pending;
    this.#pending = [];
    this.#screen.finish(above);
  }

  resume(): void {
    this.#request();
  }

  /** Erases the block and prints what is pending; later events print plain lines. */
  close(): void {
    this.#clearTimer();
    if (this.#ticker) clearInterval(this.#ticker);
    this.#ticker = undefined;
    const above = this.#pending;
    this.#pending = [];
    if (this.#active || above.length) this.#screen.finish(above);
    this.#active = false;
  }

  #flushPlain(): void {
    if (this.#pending.length === 0) return;
    const above = this.#pending;
    this.#pending = [];
    this.#screen.finish(above);
  }

  // A frame now if the last one is old enough, else one frame when it is.
  #request(): void {
    if (!this.#active || this.#timer) return;
    const wait = this.#lastFrameAt + FRAME_MS - this.#now();
    if (wait <= 0) return this.#draw();
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#active) this.#draw();
    }, wait);
    this.#timer.unref?.();
  }

  #draw(): void {
    this.#clearTimer();
    const now = this.#now();
    this.#lastFrameAt = now;
    const above = this.#pending;
    this.#pending = [];
    this.#screen.frame(above, renderStatus(this.#state, now, this.#screen.columns()));
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/**
 * A `Screen` on a terminal stream, drawn with log-update: the lines above are written and the block
 * drawn again in one write, so it does not flicker. One cell is left free at the end of each line, so
 * no terminal wraps a full one. The cursor is hidden while the block shows (on this stream: log-update's
 * own hiding writes to stderr).
 */
export function terminalScreen(stream: NodeJS.WriteStream): Screen {
  const log = createLogUpdate(stream, { showCursor: true });
  let shown = false;
  let cursorHidden = false;
  const batch = (draw: () => void) => {
    stream.cork();
    try {
      draw();
    } finally {
      stream.uncork();
    }
  };
  return {
    columns: () => Math.max(1, (stream.columns || 80) - 1),
    frame(above, block) {
      batch(() => {
        if (above.length && shown) log.clear();
        if (above.length) stream.write(`${above.join('\n')}\n`);
        if (!cursorHidden) stream.write(HIDE_CURSOR);
        cursorHidden = true;
        log(block.join('\n'));
        shown = true;
      });
    },
    finish(above) {
      batch(() => {
        if (shown) log.clear();
        log.done();
        shown = false;
        if (cursorHidden) stream.write(SHOW_CURSOR);
        cursorHidden = false;
        if (above.length) stream.write(`${above.join('\n')}\n`);
      });
    },  };
}

const HIDE_CURSOR = '\u001B[?25l';
const SHOW_CURSOR = '\u001B[?25h';
