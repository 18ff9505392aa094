/**
 * Table Storage clients built from the app's storage settings, the way the Functions host reads
 * them: `AzureWebJobsStorage` as a connection string (locally, including
 * `UseDevelopmentStorage=true`), or the identity-based form in Azure
 * (`AzureWebJobsStorage__tableServiceUri` or `__accountName`, with `__clientId` selecting a
 * user-assigned identity).
 */
import { TableClient, type TableServiceClientOptions } from '@azure/data-tables';
import type { TokenCredential } from '@azure/identity';
import { DependencyUnavailableError } from './errors.js';
import { isLoopbackUrl, type Settings } from './settings.js';

/**
 * Short SDK retries: a limiter decision that cannot reach storage should fail (closed) within a
 * second or two rather than hold a request for the SDK's default minute of back-off.
 */
const RETRY_OPTIONS = { maxRetries: 2, retryDelayInMs: 100, maxRetryDelayInMs: 500 } as const;

const DEVELOPMENT_TABLE_ENDPOINT = 'http://127.0.0.1:10002/devstoreaccount1';

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

/** The table endpoint a connection string points at, when it names one (or is the emulator). */
export function tableEndpointOf(connectionString: string): string | undefined {
  if (connectionStringValue(connectionString, 'UseDevelopmentStorage')?.toLowerCase() === 'true') {
    return DEVELOPMENT_TABLE_ENDPOINT;
  }
  return connectionStringValue(connectionString, 'TableEndpoint');
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

/**
 * A `TableClient` for `tableName`. Async because the identity path loads `@azure/identity` on
 * demand. Call `ensureTable(client)` before first use.
 */
export async function createTableClient(
  settings: Settings,
  tableName: string,
): Promise<TableClient> {
  const connectionString = settings.AzureWebJobsStorage;
  if (connectionString) {
    const options: TableServiceClientOptions = {
      retryOptions: { ...RETRY_OPTIONS },
      allowInsecureConnection: allowInsecure(tableEndpointOf(connectionString)),
    };
    try {
      return TableClient.fromConnectionString(connectionString, tableName, options);
    } catch {
      // The SDK's message may quote the connection string; never pass it on.
      throw new DependencyUnavailableError(
        'configuration',
        'AzureWebJobsStorage is not a valid storage connection string (it needs AccountName and AccountKey, a SAS, or UseDevelopmentStorage=true).',
      );
    }
  }

  const accountName = settings.AzureWebJobsStorage__accountName;
  const serviceUri =
    settings.AzureWebJobsStorage__tableServiceUri ??
    (accountName ? `https://${accountName}.table.core.windows.net` : undefined);
  if (!serviceUri) {
    throw new DependencyUnavailableError(
      'configuration',
      'Table Storage is not configured: set AzureWebJobsStorage (a connection string, or UseDevelopmentStorage=true locally) or, for a managed identity, AzureWebJobsStorage__accountName or AzureWebJobsStorage__tableServiceUri.',
    );
  }
  let url: URL;
  try {
    url = new URL(serviceUri);
  } catch {
    throw new DependencyUnavailableError(
      'configuration',
      'AzureWebJobsStorage__tableServiceUri is not a valid URL.',
    );
  }
  if (url.protocol !== 'https:' && !allowInsecure(serviceUri)) {
    throw new DependencyUnavailableError(
      'configuration',
      'AzureWebJobsStorage__tableServiceUri must be https:// (http:// is accepted only for localhost / 127.0.0.1).',
    );
  }
  const credential = await credentialFor(settings.AzureWebJobsStorage__clientId);
  return new TableClient(serviceUri.replace(/\/+$/, ''), tableName, credential, {
    retryOptions: { ...RETRY_OPTIONS },
    allowInsecureConnection: allowInsecure(serviceUri),
  });
}

/** Whether `error` is an HTTP answer from storage with this status. */
export function hasStatus(error: unknown, status: number): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { statusCode?: unknown }).statusCode === status
  );
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

const ensured = new WeakMap<TableClient, Promise<void>>();

/**
 * Creates the client's table once per client (an existing table is fine). A failure is not
 * remembered, so the next call tries again; `recheck` forces a new attempt (the table vanished,
 * e.g. an emulator restarted).
 */
export function ensureTable(
  client: TableClient,
  options: { recheck?: boolean; abortSignal?: AbortSignal } = {},
): Promise<void> {
  let pending = options.recheck ? undefined : ensured.get(client);
  if (!pending) {
    pending = client.createTable({ abortSignal: options.abortSignal }).catch((error: unknown) => {
      if (hasStatus(error, 409)) return; // TableAlreadyExists (the SDK usually swallows it)
      ensured.delete(client);
      throw error;
    });
    ensured.set(client, pending);
  }
  return pending;
}
