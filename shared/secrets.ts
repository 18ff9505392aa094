/**
 * Secrets (the Sendmode API key, the webhook signing secret) come from Key Vault in Azure
 * (cached, refetched on rotation) or, for local runs, from a setting. They never reach logs or
 * errors.
 */
import type { SecretClient } from '@azure/keyvault-secrets';

import { DependencyUnavailableError } from './errors.js';
import type { Logger } from './logger.js';
import { isLoopbackUrl, type Settings } from './settings.js';

export interface SecretProvider {
  /** The current value, from the cache when fresh. */
  get(log: Logger): Promise<string>;
  /** `staleValue` was refused: fetch the secret again (once, however many callers ask). */
  refresh(staleValue: string, log: Logger): Promise<string>;
}

/** A fixed value from settings (local runs). Refreshing cannot change it. */
export class StaticSecretProvider implements SecretProvider {
  constructor(private readonly value: string) {}
  async get(): Promise<string> {
    return this.value;
  }
  async refresh(): Promise<string> {
    return this.value;
  }
}

export interface KeyVaultSecretOptions {
  secretName: string;
  ttlMs: number;
  /** After a failed fetch with a key cached, wait this long before asking the vault again. */
  failureBackoffMs?: number;
  now?: () => number;
}

export class KeyVaultSecretProvider implements SecretProvider {
  private cached: { value: string; fetchedAt: number } | undefined;
  private inFlight: Promise<string> | undefined;
  private readonly now: () => number;

  constructor(
    private readonly client: Pick<SecretClient, 'getSecret'>,
    private readonly options: KeyVaultSecretOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  async get(log: Logger): Promise<string> {
    if (this.cached && this.now() - this.cached.fetchedAt < this.options.ttlMs) {
      return this.cached.value;
    }
    return this.fetchShared(log);
  }

  async refresh(staleValue: string, log: Logger): Promise<string> {
    if (this.cached && this.cached.value !== staleValue) return this.cached.value;
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
      if (!secret.value) throw Object.assign(new Error('empty secret'), { code: 'EmptySecret' });
      this.cached = { value: secret.value, fetchedAt: this.now() };
      return secret.value;
    } catch (error) {
      const reason = describeVaultError(error);
      if (this.cached) {
        log.warn(
          `Key Vault could not be read (${reason}); using the cached secret ${this.options.secretName} for now.`,
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
        `Secret ${this.options.secretName} could not be read from Key Vault (${reason}); nothing was sent.`,
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
  return 'unreachable';
}

const vaultClients = new Map<string, Promise<Pick<SecretClient, 'getSecret'>>>();

/** One SecretClient per vault per process. The Azure SDKs are loaded only when a vault is used. */
function secretClient(vaultUri: string): Promise<Pick<SecretClient, 'getSecret'>> {
  let client = vaultClients.get(vaultUri);
  if (!client) {
    client = Promise.all([import('@azure/keyvault-secrets'), import('@azure/identity')]).then(
      ([{ SecretClient }, { DefaultAzureCredential }]) => {
        // Settings accept plain http only for loopback (a local fake vault), never in Azure; a
        // loopback address also cannot pass the SDK's check that the challenge names the vault host.
        const local = isLoopbackUrl(new URL(vaultUri));
        return new SecretClient(vaultUri, new DefaultAzureCredential(), {
          retryOptions: { maxRetries: 2, retryDelayInMs: 200, maxRetryDelayInMs: 1_000 },
          allowInsecureConnection: local,
          disableChallengeResourceVerification: local,
        });
      },
    );
    vaultClients.set(vaultUri, client);
    client.catch(() => vaultClients.delete(vaultUri));
  }
  return client;
}

interface SecretSource {
  /** The secret's name in the vault; used when KEY_VAULT_URI is set. */
  secretName: string | undefined;
  /** The value from a setting; used without a vault (local runs). */
  localValue: string | undefined;
  /** What to tell the operator when neither is configured. */
  missing: string;
}

async function providerFor(settings: Settings, source: SecretSource): Promise<SecretProvider> {
  if (settings.KEY_VAULT_URI && source.secretName) {
    return new KeyVaultSecretProvider(await secretClient(settings.KEY_VAULT_URI), {
      secretName: source.secretName,
      ttlMs: settings.API_KEY_CACHE_TTL_SECONDS * 1000,
    });
  }
  if (source.localValue) return new StaticSecretProvider(source.localValue);
  const missing = () =>
    Promise.reject(new DependencyUnavailableError('configuration', source.missing, 60_000));
  return { get: missing, refresh: missing };
}

/** The Sendmode API key: secret SENDMODE_API_KEY_SECRET_NAME in the vault, or SENDMODE_API_KEY locally. */
export function apiKeyProviderFromSettings(settings: Settings): Promise<SecretProvider> {
  return providerFor(settings, {
    secretName: settings.SENDMODE_API_KEY_SECRET_NAME,
    localValue: settings.KEY_VAULT_URI ? undefined : settings.SENDMODE_API_KEY,
    missing:
      'No Sendmode API key is configured: set KEY_VAULT_URI (with the secret in the vault) or, for local runs, SENDMODE_API_KEY. Nothing was sent.',
  });
}

/**
 * The webhook signing secret, or undefined when signing is not configured: secret
 * WEBHOOK_SIGNING_SECRET_NAME in the vault, or WEBHOOK_SIGNING_SECRET locally.
 */
export async function webhookSecretProviderFromSettings(
  settings: Settings,
): Promise<SecretProvider | undefined> {
  if (!settings.WEBHOOK_SIGNING_SECRET_NAME && !settings.WEBHOOK_SIGNING_SECRET) return undefined;
  return providerFor(settings, {
    secretName: settings.WEBHOOK_SIGNING_SECRET_NAME,
    localValue: settings.WEBHOOK_SIGNING_SECRET,
    missing:
      'WEBHOOK_SIGNING_SECRET_NAME is set but KEY_VAULT_URI is not: the signing secret cannot be read, so no webhook is accepted.',
  });
}
