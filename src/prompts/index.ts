// The prompt file part (ARCHITECTURE §8): load, validate, expand into jobs with stable ids.
export { loadPromptFile, parsePromptText } from './load.js';
export { composePrompt } from './expand.js';
export { type Job, type PromptBook, type Pacing, DEFAULT_PACING } from './types.js';
