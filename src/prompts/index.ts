// The prompt file part (ARCHITECTURE §8): load, validate, expand into jobs with stable ids.
export { loadBookFor, loadPromptFile, parseBookFor, parsePromptText, readPromptText, type LoadOptions } from './load.js';
export { composePrompt, sheetsIn } from './expand.js';
export { type Character, type Job, type PromptBook, type Pacing, type Reference, DEFAULT_PACING } from './types.js';
