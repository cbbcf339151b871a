// Test hooks the run layer calls at its durable steps. Production runs pass none; the chaos tests
// get theirs from the command line's environment (src/cli/test-hooks.ts). Lower layers receive
// them as options and never import them.

/** The places a chaos test may kill the runner (SIGKILL, no cleanup), as a power cut would. */
export const CRASH_POINTS = ['after-started', 'after-submit', 'before-rename', 'mid-snapshot'] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

export interface RunHooks {
  /** Called right after the durable step each point names. */
  readonly crashPoint?: (point: CrashPoint) => void;
}
