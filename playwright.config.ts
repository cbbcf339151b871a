import { defineConfig } from '@playwright/test';

// The e2e specs run the real CLI, which launches its own Chromium with the extension; one at a
// time, because each spec drives a whole browser on a 2-core machine.
export default defineConfig({
  testDir: 'e2e',
  timeout: 240_000,
  workers: 1,
  fullyParallel: false,
  retries: 0,
  reporter: [['list']],
});
