// Provider descriptors are data (ARCHITECTURE §4): validated here once, then sent to the extension.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { UsageError } from '../protocol/errors.js';
import { packageRoot } from '../paths.js';
import { describeIssues } from '../protocol/messages.js';
import { ProviderDescriptorSchema, type ProviderDescriptor } from '../protocol/provider.js';

export const PROVIDERS = ['chatgpt'] as const;

/** Loads and validates a provider descriptor, pointing it at `baseUrl` when given. */
export function loadProvider(name: string, baseUrl?: string): ProviderDescriptor {
  if (!(PROVIDERS as readonly string[]).includes(name)) {
    throw new UsageError(`unknown provider "${name}" (known: ${PROVIDERS.join(', ')})`);
  }
  const file = path.join(packageRoot, 'src', 'providers', `${name}.json`);
  const data = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  if (baseUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch {
      throw new UsageError(`--base-url: "${baseUrl}" is not a URL (e.g. http://127.0.0.1:8080/)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--base-url: "${baseUrl}" must be http or https`);
    data.baseUrl = url.href;
  }
  const parsed = ProviderDescriptorSchema.safeParse(data);
  if (!parsed.success) throw new UsageError(`${file}: invalid provider descriptor: ${describeIssues(parsed.error)}`);
  return parsed.data;
}
