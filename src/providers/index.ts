// Provider descriptors are data (ARCHITECTURE §4): validated here once, then sent to the extension.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { UsageError } from '../protocol/errors.js';
import { packageRoot } from '../paths.js';
import { describeIssues } from '../protocol/messages.js';
import { ProviderDescriptorSchema, type ProviderDescriptor } from '../protocol/provider.js';

export const PROVIDERS = ['chatgpt'] as const;

/**
 * Loads and validates a provider descriptor, pointing it at `baseUrl` when given. `providerFile` is
 * an updated descriptor a user supplies (`--provider-file`), so a changed site needs no rebuild.
 */
export function loadProvider(name: string, baseUrl?: string, providerFile?: string): ProviderDescriptor {
  if (providerFile === undefined && !(PROVIDERS as readonly string[]).includes(name)) {
    throw new UsageError(`unknown provider "${name}" (known: ${PROVIDERS.join(', ')})`);
  }
  const file = providerFile ?? path.join(packageRoot, 'src', 'providers', `${name}.json`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`--provider-file ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    throw new UsageError(`${file}: not valid JSON: ${(error as Error).message}`);
  }
  if (!data || typeof data !== 'object' || Array.isArray(data)) throw new UsageError(`${file}: a provider descriptor is a JSON object`);
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
  // Patterns are checked by the schema (they compile, allowed flags, no exponential shapes), so a
  // bad one fails here, naming its field, before the extension ever runs it on page text.
  const parsed = ProviderDescriptorSchema.safeParse(data);
  const where = providerFile === undefined ? file : `--provider-file ${file}`;
  if (!parsed.success) throw new UsageError(`${where}: invalid provider descriptor: ${describeIssues(parsed.error)}`);
  return parsed.data;
}
