// The run's event contract lives in src/events.ts (the run emits, reporters consume); re-exported for the reporters.
export * from '../events.js';
