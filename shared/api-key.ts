/**
 * Where the Sendmode API key comes from: Key Vault in Azure (cached, refetched on rotation),
 * or the SENDMODE_API_KEY setting for local runs. The key never reaches logs or errors.
 */
import type { SecretClient } from '@azure/keyvault-secrets';
import { DependencyUnavailableError } from './errors.js';
import { isLoopbackUrl, type Settings } from './settings.js';
import type { Logger } from './logger.js';

export interface ApiKeyProvider {
  /** The current key, from the cache when fresh. */
  getKey(log: Logger): Promise<string>;
  /** Sendmode refused `staleKey`: fetch the key again (once, however many callers ask). */
  refreshKey(staleKey: string, log: Logger): Promise<string>;
}

/** A fixed key from settings (local runs). Refreshing cannot change it. */
export class StaticApiKeyProvider implements ApiKeyProvider {
  constructor(private readonly key: string) {}
  async getKey(): Promise<string> {
    return this.key;
  }
  async refreshKey(): Promise<string> {
    return this.key;
  }
}

export interface KeyVaultApiKeyOptions {
  secretName: string;
  ttlMs: number;
  /** After a failed fetch with a key cached, wait this long before asking the vault again. */
  failureBackoffMs?: number;
  now?: () => number;
}

export class KeyVaultApiKeyProvider implements ApiKeyProvider {
  private cached: { value: string; fetchedAt: number } | undefined;
  private inFlight: Promise<string> | undefined;
  private readonly now: () => number;

  constructor(
    private readonly client: Pick<SecretClient, 'getSecret'>,
    private readonly options: KeyVaultApiKeyOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  async getKey(log: Logger): Promise<string> {
    if (this.cached && this.now() - this.cached.fetchedAt < this.options.ttlMs) {
      return this.cached.value;
    }
    return this.fetchShared(log);
  }

  async refreshKey(staleKey: string, log: Logger): Promise<string> {
    if (this.cached && this.cached.value !== staleKey) return this.cached.value;
    return this.fetchShared(log);
  }

  /** Concurrent callers share one vault request. */
  private fetchShared(log: Logger): Promise<string> {
    this.inFlight ??= this.fetch(log).finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async fetch(log: Logger): Promise<string> {
    try {
      const secret = await this.client.getSecret(this.options.secretName);
      if (!secret.value) throw new Error('the secret has no value');
      this.cached = { value: secret.value, fetchedAt: this.now() };
      return secret.value;
    } catch (error) {
      const reason = describeVaultError(error);
      if (this.cached) {
        log.warn(
          `Key Vault could not be read (${reason}); using the cached Sendmode API key for now.`,
        );
        // Try the vault again after a short back-off rather than on every call.
        const backoff = this.options.failureBackoffMs ?? 30_000;
        this.cached.fetchedAt = Math.max(
          this.cached.fetchedAt,
          this.now() - this.options.ttlMs + backoff,
        );
        return this.cached.value;
      }
      throw new DependencyUnavailableError(
        'key-vault',
        `The Sendmode API key could not be read from Key Vault (${reason}); nothing was sent.`,
      );
    }
  }
}

/** Status and code only: the SDK's messages can quote request details. */
function describeVaultError(error: unknown): string {
  const { statusCode, code } = error as { statusCode?: unknown; code?: unknown };
  if (typeof statusCode === 'number') {
    return `HTTP ${statusCode}${typeof code === 'string' ? ` ${code}` : ''}`;
  }
  if (typeof code === 'string') return code;
  if (error instanceof Error && error.message === 'the secret has no value') return error.message;
  return 'unreachable';
}

/** Builds the provider the settings call for. The Azure SDKs are loaded only when a vault is used. */
export async function apiKeyProviderFromSettings(settings: Settings): Promise<ApiKeyProvider> {
  if (settings.KEY_VAULT_URI) {
    const [{ SecretClient }, { DefaultAzureCredential }] = await Promise.all([
      import('@azure/keyvault-secrets'),
      import('@azure/identity'),
    ]);
    // Settings accept plain http only for loopback (a local fake vault), never in Azure; a
    // loopback address also cannot pass the SDK's check that the challenge names the vault host.
    const local = isLoopbackUrl(new URL(settings.KEY_VAULT_URI));
    const client = new SecretClient(settings.KEY_VAULT_URI, new DefaultAzureCredential(), {
      retryOptions: { maxRetries: 2, retryDelayInMs: 200, maxRetryDelayInMs: 1_000 },
      allowInsecureConnection: local,
      disableChallengeResourceVerification: local,
    });
    return new KeyVaultApiKeyProvider(client, {
      secretName: settings.SENDMODE_API_KEY_SECRET_NAME,
      ttlMs: settings.API_KEY_CACHE_TTL_SECONDS * 1000,
    });
  }
  if (settings.SENDMODE_API_KEY) return new StaticApiKeyProvider(settings.SENDMODE_API_KEY);
  return missingKeyProvider;
}

const noKey = () =>
  new DependencyUnavailableError(
    'configuration',
    'No Sendmode API key is configured: set KEY_VAULT_URI (with the secret in the vault) or, for local runs, SENDMODE_API_KEY. Nothing was sent.',
    60_000,
  );

const missingKeyProvider: ApiKeyProvider = {
  getKey: () => Promise.reject(noKey()),
  refreshKey: () => Promise.reject(noKey()),
};
