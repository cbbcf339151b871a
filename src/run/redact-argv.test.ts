// The journal keeps the command line of each run; a password given in a URL must not be in it.
import { describe, expect, it } from 'vitest';
import { redactArgv } from './run-book.js';

describe('redactArgv', () => {
  it('hides the password of a URL, in its own argument or after =, and keeps the rest', () => {
    expect(redactArgv(['worker', '--redis', 'redis://:s3cr3t@10.0.0.5:6379/2', '--profile', 'a'])).toEqual(['worker', '--redis', 'redis://:***@10.0.0.5:6379/2', '--profile', 'a']);
    expect(redactArgv(['--redis=rediss://fleet:p%40ss@host:6380'])).toEqual(['--redis=rediss://fleet:***@host:6380']);
    expect(redactArgv(['--base-url', 'http://127.0.0.1:8410', 'book.yaml'])).toEqual(['--base-url', 'http://127.0.0.1:8410', 'book.yaml']);
  });
});
