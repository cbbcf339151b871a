import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { boundError, boundReply, fitsFrame } from './bounds.js';
import {
  ChallengeError,
  CooldownError,
  DisconnectError,
  DriftError,
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
import { ContentCommandSchema, ExtensionMessageSchema, ImageFoundSchema, LIMITS, MAX_PAYLOAD_BYTES, ProbeResultSchema, RunnerMessageSchema, describeIssues } from './messages.js';
import { MAX_MESSAGE_CHARS } from './text.js';
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

  it('rebuild a name that is not one of the classes (toString, __proto__, constructor) as the kind\'s class', () => {
    for (const name of ['toString', '__proto__', 'constructor', 'hasOwnProperty', 'valueOf', 'prototype']) {
      expect(deserializeError({ name, message: 'm', kind: 'policy' }), name).toBeInstanceOf(PolicyError);
      expect(deserializeError({ name, message: 'm', kind: 'transient' }), name).toBeInstanceOf(TransientError);
    }
  });

  it('strip control characters from the message and cap it, keeping head and tail', () => {
    const back = deserializeError({ name: 'PolicyError', message: `\u001b[2K\u001b]0;owned\u0007refused ${'x'.repeat(10_000)} content policies`, kind: 'policy' });
    expect(back.message).not.toMatch(/[\u0000-\u001f]/);
    expect(back.message.startsWith('[2K]0;ownedrefused')).toBe(true);
    expect(back.message.endsWith('content policies')).toBe(true);
    expect(back.message.length).toBeLessThanOrEqual(MAX_MESSAGE_CHARS);
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

  it('bound every string the extension sends, and say which field is too long', () => {
    const image = { src: 'https://h/x.png', fileId: 'f1', naturalWidth: 1, naturalHeight: 1, alt: '', conversationUrl: 'https://h/c/1' };
    const fail = (error: object) => ExtensionMessageSchema.safeParse({ type: 'fail', id: 'r1', error: { name: 'PolicyError', message: 'm', kind: 'policy', ...error } });
    expect(ImageFoundSchema.safeParse(image).success).toBe(true);
    expect(ImageFoundSchema.safeParse({ ...image, src: `https://h/${'a'.repeat(LIMITS.src)}` }).error?.issues[0].path).toEqual(['src']);
    expect(ImageFoundSchema.safeParse({ ...image, alt: 'a'.repeat(LIMITS.text + 1) }).success).toBe(false);
    expect(ImageFoundSchema.safeParse({ ...image, matched: { 'not a role': 1 } }).success).toBe(false);
    const matched = ImageFoundSchema.parse({ ...image, matched: JSON.parse('{"__proto__": {"x": 1}, "composer": 1}') }).matched!;
    expect([Object.keys(matched), Object.getPrototypeOf(matched)]).toEqual([['composer'], Object.prototype]);
    expect(fail({ message: 'm'.repeat(LIMITS.text + 1) }).success).toBe(false);
    expect(fail({ name: 'n'.repeat(LIMITS.name + 1) }).success).toBe(false);
    expect(fail({ kind: 'quota', resetInMs: 1e300 }).success).toBe(false);
    expect(ExtensionMessageSchema.safeParse({ type: 'log', level: 'info', message: 'l'.repeat(LIMITS.text + 1) }).success).toBe(false);
    expect(ExtensionMessageSchema.safeParse({ type: 'progress', tabId: 1, jobId: 'j', phase: 'sent', conversationUrl: 'u'.repeat(LIMITS.url + 1) }).success).toBe(false);
    expect(ProbeResultSchema.safeParse({ url: 'u', title: 't'.repeat(LIMITS.text + 1), page: 'ready', roles: [], imageTool: 'absent' }).success).toBe(false);
  });

  it('describe a failure with thousands of issues in a bounded sentence', () => {
    const many = ProbeResultSchema.safeParse({ url: 'u', title: 't', page: 'ready', roles: Array.from({ length: 5000 }, () => ({ role: 1 })), imageTool: 'absent' });
    const words = describeIssues(many.error!);
    expect(words).toMatch(/^roles/);
    expect(words.length).toBeLessThanOrEqual(2000);
  });

  it('the shipped provider descriptor is valid and points wherever --base-url says', () => {
    expect(ProviderDescriptorSchema.safeParse(provider).success).toBe(true);
    expect(provider.baseUrl).toBe('http://127.0.0.1:9/');
    expect(() => loadProvider('chatgpt', 'file:///etc/passwd')).toThrow(/--base-url: .* must be http or https/);
  });
});

describe('what the extension forwards, cut to the bounds', () => {
  const image = { src: 'https://h/x.png', fileId: 'f1', naturalWidth: 1, naturalHeight: 1, alt: '', conversationUrl: 'https://h/c/1', marker: 'm-1' };

  it('keeps a legitimate but long page string valid: alt and error messages cut, head and tail kept', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20_000, unit: 'binary' }), fc.string({ maxLength: 300 }), fc.double(), (words, name, reset) => {
        expect(ImageFoundSchema.safeParse(boundReply('generate', { ...image, alt: words })).success).toBe(true);
        const error = boundError({ name, message: words, kind: 'quota', resetInMs: reset });
        expect(ExtensionMessageSchema.safeParse({ type: 'fail', id: 'r1', error }).success).toBe(true);
        const probe = boundReply('probe', { url: words, title: words, page: 'ready', roles: [{ role: 'composer', found: false, tried: [words] }], imageTool: 'absent' });
        expect(ProbeResultSchema.safeParse(probe).success).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('sends an over-long src as an in-page read of the marked image, and refuses one it could not find again', () => {
    const long = `https://h/x.png?sig=${'s'.repeat(LIMITS.src)}`;
    const bounded = ImageFoundSchema.parse(boundReply('generate', { ...image, src: long }));
    expect([bounded.inPage, bounded.src]).toEqual([true, long.slice(0, LIMITS.inPageSrc)]);
    expect(() => boundReply('generate', { ...image, src: long, marker: undefined })).toThrow(VerificationError);
  });

  it('drops a conversation address\'s query when it is too long, and calls an over-long file id drift', () => {
    const bounded = ImageFoundSchema.parse(boundReply('find-image', { ...image, conversationUrl: `https://h/c/1?q=${'q'.repeat(LIMITS.url)}#x` }));
    expect(bounded.conversationUrl).toBe('https://h/c/1');
    expect(() => boundReply('generate', { ...image, fileId: 'f'.repeat(LIMITS.fileId + 1) })).toThrow(DriftError);
    expect(boundReply('find-image', null)).toBeNull();
  });

  it('keeps no reset time that is not one, and no control character in a name', () => {
    expect(boundError({ name: 'Quota\u001b[2KError', message: 'm', kind: 'quota', resetInMs: Infinity })).toEqual({ name: 'Quota[2KError', message: 'm', kind: 'quota' });
    expect(fitsFrame('x'.repeat(MAX_PAYLOAD_BYTES))).toBe(true);
    expect(fitsFrame('é'.repeat(MAX_PAYLOAD_BYTES / 2 + 1))).toBe(false);
  });
});
