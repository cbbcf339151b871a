import { describe, expect, it } from 'vitest';
import {
  ChallengeError,
  CooldownError,
  DisconnectError,
  GenerationTimeoutError,
  LoginRequiredError,
  PolicyError,
  QuotaError,
  TransientError,
  VerificationError,
  deserializeError,
  needsHuman,
  serializeError,
  type SemantestError,
} from './errors.js';
import { ContentCommandSchema, ExtensionMessageSchema, RunnerMessageSchema, describeIssues } from './messages.js';
import { ProviderDescriptorSchema } from './provider.js';
import { loadProvider } from '../providers/index.js';

describe('failures across the hub', () => {
  const all: SemantestError[] = [
    new TransientError('t'),
    new GenerationTimeoutError('g'),
    new CooldownError('c'),
    new QuotaError('q', 37_000),
    new PolicyError('p'),
    new LoginRequiredError('l'),
    new ChallengeError('ch'),
    new DisconnectError('d'),
    new VerificationError('v'),
  ];

  it('come back as the same class with the same details', () => {
    for (const error of all) {
      const back = deserializeError(JSON.parse(JSON.stringify(serializeError(error))));
      expect(back.constructor).toBe(error.constructor);
      expect([back.kind, back.message]).toEqual([error.kind, error.message]);
    }
    expect((deserializeError(serializeError(all[3])) as QuotaError).resetInMs).toBe(37_000);
  });

  it('keep their kind even when a minified bundle renamed the class', () => {
    for (const error of all) {
      const back = deserializeError({ ...serializeError(error), name: 'e' });
      expect(back.constructor).toBe(error.constructor);
    }
    expect((deserializeError({ name: 'x', kind: 'quota', message: 'cap', resetInMs: 5 }) as QuotaError).resetInMs).toBe(5);
  });

  it('turns anything else into a transient failure and knows which need a human', () => {
    expect(serializeError(new Error('boom'))).toEqual({ name: 'TransientError', message: 'boom', kind: 'transient' });
    expect(all.filter(needsHuman).map((e) => e.kind)).toEqual(['login', 'challenge']);
  });
});

describe('message schemas', () => {
  const provider = loadProvider('chatgpt', 'http://127.0.0.1:9/');

  it('accept the messages each side sends', () => {
    expect(ExtensionMessageSchema.parse({ type: 'hello', v: 1, token: 'x', extensionId: 'abc' }).type).toBe('hello');
    expect(RunnerMessageSchema.parse({ type: 'welcome', v: 1, provider }).type).toBe('welcome');
    expect(RunnerMessageSchema.parse({ type: 'generate', id: 'r1', tabId: 3, jobId: 'ch1/s1/p1', prompt: 'a gull', timeoutMs: 1000 })).toMatchObject({ type: 'generate', sendGapMs: 0 });
    expect(ContentCommandSchema.parse({ type: 'cs-find-image', provider, jobId: 'ch1/s1/p1', prompt: 'a gull', excludeFileIds: [], timeoutMs: 5 }).type).toBe('cs-find-image');
  });

  it('refuse malformed ones and name the field', () => {
    const bad = RunnerMessageSchema.safeParse({ type: 'generate', id: 'r1', tabId: 3, jobId: 'j', prompt: '', timeoutMs: 1000 });
    expect(bad.success).toBe(false);
    expect(describeIssues(bad.error!)).toMatch(/^prompt: /);
    const fail = ExtensionMessageSchema.safeParse({ type: 'fail', id: 'r1', error: { name: 'X', message: 'm', kind: 'explode' } });
    expect(describeIssues(fail.error!)).toMatch(/error\.kind/);
    expect(ExtensionMessageSchema.safeParse({ type: 'shell', cmd: 'rm -rf /' }).success).toBe(false);
  });

  it('the shipped provider descriptor is valid and points wherever --base-url says', () => {
    expect(ProviderDescriptorSchema.safeParse(provider).success).toBe(true);
    expect(provider.baseUrl).toBe('http://127.0.0.1:9/');
    expect(() => loadProvider('chatgpt', 'file:///etc/passwd')).toThrow(/--base-url: .* must be http or https/);
  });
});
