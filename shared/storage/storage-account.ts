/**
 * Where the app's storage account is, read the way the Functions host reads it:
 * `AzureWebJobsStorage` as a connection string (locally, including `UseDevelopmentStorage=true`),
 * or the identity-based form in Azure (`AzureWebJobsStorage__<service>ServiceUri` or
 * `__accountName`, with `__clientId` selecting a user-assigned identity).
 */
import type { TokenCredential } from '@azure/identity';

import { DependencyUnavailableError } from '../errors.js';
import { isLoopbackUrl, type Settings } from '../settings.js';

export type StorageService = 'table' | 'queue';

export type StorageTarget =
  | { kind: 'connection-string'; connectionString: string; allowInsecureConnection: boolean }
  | {
      kind: 'identity';
      serviceUrl: string;
      credential: TokenCredential;
      allowInsecureConnection: boolean;
    };

/**
 * Short SDK retries: a decision that cannot reach storage should fail (closed) within a second
 * or two rather than hold a request for the SDK's default minute of back-off.
 */
export const STORAGE_RETRY_OPTIONS = {
  maxRetries: 2,
  retryDelayInMs: 100,
  maxRetryDelayInMs: 500,
} as const;

const DEVELOPMENT_ENDPOINTS: Record<StorageService, string> = {
  table: 'http://127.0.0.1:10002/devstoreaccount1',
  queue: 'http://127.0.0.1:10001/devstoreaccount1',
};
const ENDPOINT_KEYS: Record<StorageService, string> = {
  table: 'TableEndpoint',
  queue: 'QueueEndpoint',
};

/** One credential per process (and per client id): token caching lives in the credential. */
const credentials = new Map<string, Promise<TokenCredential>>();

function credentialFor(clientId: string | undefined): Promise<TokenCredential> {
  const key = clientId ?? '';
  let credential = credentials.get(key);
  if (!credential) {
    // Loaded only on the identity path: a local cold start never pays for @azure/identity.
    credential = import('@azure/identity').then(
      ({ DefaultAzureCredential }) =>
        new DefaultAzureCredential(clientId ? { managedIdentityClientId: clientId } : {}),
    );
    credentials.set(key, credential);
    credential.catch(() => credentials.delete(key));
  }
  return credential;
}

/** The value of `name` in a `Key=Value;...` connection string (case-insensitive key). */
function connectionStringValue(connectionString: string, name: string): string | undefined {
  for (const part of connectionString.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim().toLowerCase() === name.toLowerCase()) {
      return part.slice(eq + 1).trim();
    }
  }
  return undefined;
}

/** The endpoint of `service` a connection string points at, when it names one (or is the emulator). */
function endpointOf(connectionString: string, service: StorageService): string | undefined {
  if (connectionStringValue(connectionString, 'UseDevelopmentStorage')?.toLowerCase() === 'true') {
    return DEVELOPMENT_ENDPOINTS[service];
  }
  return connectionStringValue(connectionString, ENDPOINT_KEYS[service]);
}

/** Plain http is allowed only towards loopback (Azurite); anything else must be https. */
function allowInsecure(endpoint: string | undefined): boolean {
  if (!endpoint) return false;
  try {
    const url = new URL(endpoint);
    return url.protocol === 'http:' && isLoopbackUrl(url);
  } catch {
    return false;
  }
}

/** Async because the identity path loads `@azure/identity` on demand. */
export async function storageTarget(
  settings: Settings,
  service: StorageService,
): Promise<StorageTarget> {
  const connectionString = settings.AzureWebJobsStorage;
  if (connectionString) {
    return {
      kind: 'connection-string',
      connectionString,
      allowInsecureConnection: allowInsecure(endpointOf(connectionString, service)),
    };
  }
  const uriSetting = `AzureWebJobsStorage__${service}ServiceUri` as const;
  const accountName = settings.AzureWebJobsStorage__accountName;
  const serviceUri =
    settings[uriSetting] ??
    (accountName ? `https://${accountName}.${service}.core.windows.net` : undefined);
  if (!serviceUri) {
    throw new DependencyUnavailableError(
      'configuration',
      `Storage is not configured: set AzureWebJobsStorage (a connection string, or UseDevelopmentStorage=true locally) or, for a managed identity, AzureWebJobsStorage__accountName or ${uriSetting}.`,
    );
  }
  if (!URL.canParse(serviceUri)) {
    throw new DependencyUnavailableError('configuration', `${uriSetting} is not a valid URL.`);
  }
  if (new URL(serviceUri).protocol !== 'https:' && !allowInsecure(serviceUri)) {
    throw new DependencyUnavailableError(
      'configuration',
      `${uriSetting} must be https:// (http:// is accepted only for localhost / 127.0.0.1).`,
    );
  }
  return {
    kind: 'identity',
    serviceUrl: serviceUri.replace(/\/+$/, ''),
    credential: await credentialFor(settings.AzureWebJobsStorage__clientId),
    allowInsecureConnection: allowInsecure(serviceUri),
  };
}

/** Whether `error` is an HTTP answer from storage with this status. */
export function hasStatus(error: unknown, status: number): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { statusCode?: unknown }).statusCode === status
  );
}

/** `HTTP 503 ServerBusy`-style description: status and code only, never URLs, keys or bodies. */
export function describeStorageError(error: unknown): string {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  const code = storageErrorCode(error);
  const what = [typeof status === 'number' ? `HTTP ${status}` : undefined, code]
    .filter(Boolean)
    .join(' ');
  return what || 'unreachable';
}

/** The storage error code (`TableNotFound`, `UpdateConditionNotSatisfied`, ...), when there is one. */
export function storageErrorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as {
    code?: unknown;
    details?: { errorCode?: unknown; odataError?: { code?: unknown } };
  };
  const code = e.details?.odataError?.code ?? e.details?.errorCode ?? e.code;
  return typeof code === 'string' ? code : undefined;
}
