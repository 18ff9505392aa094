/**
 * The key provider through the real SecretClient and DefaultAzureCredential (managed identity)
 * against the local Key Vault fake.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { DependencyUnavailableError } from '../shared/errors.js';
import {
  apiKeyProviderFromSettings,
  KeyVaultSecretProvider,
  webhookSecretProviderFromSettings,
} from '../shared/secrets.js';
import { parseSettings } from '../shared/settings.js';
import { type KeyVaultFake, startKeyVaultFake, useFakeManagedIdentity } from './fakes/key-vault.js';
import { captureLog } from './helpers/capture-log.js';

const SECRET = 'sendmode-api-key';
let vault: KeyVaultFake;
let restoreEnv: () => void;

beforeAll(async () => {
  vault = await startKeyVaultFake({ [SECRET]: 'key-one' });
  restoreEnv = useFakeManagedIdentity(vault);
});
afterAll(async () => {
  restoreEnv();
  await vault.close();
});
beforeEach(() => {
  vault.setMode('ok');
  vault.setSecret(SECRET, 'key-one');
});

async function provider(extra: Record<string, string> = {}) {
  return apiKeyProviderFromSettings(
    parseSettings({
      KEY_VAULT_URI: vault.url,
      SENDMODE_API_KEY: 'ignored-when-vault-set',
      ...extra,
    }),
  );
}

describe('API key from Key Vault', () => {
  it('reads the secret and caches it for the TTL', async () => {
    const keys = await provider();
    const log = captureLog();
    const before = vault.secretRequests();
    expect(await keys.get(log)).toBe('key-one');
    expect(await keys.get(log)).toBe('key-one');
    expect(vault.secretRequests() - before).toBe(1);
  });

  it('shares one fetch between concurrent first calls', async () => {
    const keys = await provider();
    const before = vault.secretRequests();
    const results = await Promise.all(Array.from({ length: 20 }, () => keys.get(captureLog())));
    expect(new Set(results)).toEqual(new Set(['key-one']));
    expect(vault.secretRequests() - before).toBe(1);
  });

  it('reads the secret named by SENDMODE_API_KEY_SECRET_NAME', async () => {
    vault.setSecret('other-name', 'other-key');
    const keys = await provider({ SENDMODE_API_KEY_SECRET_NAME: 'other-name' });
    expect(await keys.get(captureLog())).toBe('other-key');
  });

  it('refetches after the TTL and sees a rotated key', async () => {
    const keys = await provider({ API_KEY_CACHE_TTL_SECONDS: '0' });
    expect(await keys.get(captureLog())).toBe('key-one');
    vault.setSecret(SECRET, 'key-two');
    expect(await keys.get(captureLog())).toBe('key-two');
  });

  it('refresh fetches a rotated key at once, and only once for many callers', async () => {
    const keys = await provider();
    expect(await keys.get(captureLog())).toBe('key-one');
    vault.setSecret(SECRET, 'key-two');
    expect(await keys.get(captureLog())).toBe('key-one'); // still cached
    const before = vault.secretRequests();
    const fresh = await Promise.all(
      Array.from({ length: 10 }, () => keys.refresh('key-one', captureLog())),
    );
    expect(new Set(fresh)).toEqual(new Set(['key-two']));
    expect(vault.secretRequests() - before).toBe(1);
    // A caller that still holds the old key gets the new one without another fetch.
    expect(await keys.refresh('key-one', captureLog())).toBe('key-two');
    expect(vault.secretRequests() - before).toBe(1);
  });

  it('keeps using a cached key while the vault is down, with a warning that holds no key', async () => {
    const keys = await provider({ API_KEY_CACHE_TTL_SECONDS: '0' });
    expect(await keys.get(captureLog())).toBe('key-one');
    vault.setMode('down');
    const log = captureLog();
    expect(await keys.get(log)).toBe('key-one');
    expect(log.text()).toMatch(/warn .*Key Vault could not be read.*cached/);
    expect(log.text()).not.toContain('key-one');
  });

  it.each([
    ['down', /unreachable|ECONNRESET/],
    ['forbidden', /HTTP 403/],
  ] as const)('without a cached key, vault %s is a dependency failure', async (mode, reason) => {
    const keys = await provider();
    vault.setMode(mode);
    const error = await keys.get(captureLog()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect((error as DependencyUnavailableError).dependency).toBe('key-vault');
    expect((error as Error).message).toMatch(reason);
  });

  it('an empty secret is a dependency failure, not an empty key', async () => {
    vault.setSecret(SECRET, '');
    const keys = await provider();
    const error = await keys.get(captureLog()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect((error as Error).message).toMatch(/EmptySecret/);
  });

  it('a missing secret is a dependency failure naming 404', async () => {
    vault.deleteSecret(SECRET);
    const keys = await provider();
    const error = await keys.get(captureLog()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect((error as Error).message).toMatch(/HTTP 404 SecretNotFound/);
  });

  it('backs off after a failure instead of asking the vault on every call', async () => {
    let now = 0;
    const client = {
      calls: 0,
      fail: false,
      async getSecret() {
        this.calls += 1;
        if (this.fail) throw Object.assign(new Error('x'), { code: 'ECONNREFUSED' });
        return { value: 'k', name: SECRET, properties: {} } as never;
      },
    };
    const keys = new KeyVaultSecretProvider(client, {
      secretName: SECRET,
      ttlMs: 1000,
      failureBackoffMs: 200,
      now: () => now,
    });
    await keys.get(captureLog());
    client.fail = true;
    now = 1500;
    await keys.get(captureLog());
    now = 1600;
    await keys.get(captureLog());
    expect(client.calls).toBe(2); // inside the back-off: served from cache
    now = 1750;
    await keys.get(captureLog());
    expect(client.calls).toBe(3);
  });
});

describe('API key without a vault', () => {
  it('uses SENDMODE_API_KEY', async () => {
    const keys = await apiKeyProviderFromSettings(parseSettings({ SENDMODE_API_KEY: 'local' }));
    expect(await keys.get(captureLog())).toBe('local');
  });

  it('with no key at all, fails as a configuration problem', async () => {
    const keys = await apiKeyProviderFromSettings(parseSettings({}));
    const error = await keys.get(captureLog()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect((error as Error).message).toMatch(/KEY_VAULT_URI.*SENDMODE_API_KEY/);
  });
});

describe('webhook signing secret', () => {
  it('is not required when neither setting is present', async () => {
    expect(await webhookSecretProviderFromSettings(parseSettings({}))).toBeUndefined();
  });

  it('comes from the vault by WEBHOOK_SIGNING_SECRET_NAME', async () => {
    vault.setSecret('webhook-signing', 'whsec_c2VjcmV0');
    const provider = await webhookSecretProviderFromSettings(
      parseSettings({ KEY_VAULT_URI: vault.url, WEBHOOK_SIGNING_SECRET_NAME: 'webhook-signing' }),
    );
    expect(await provider?.get(captureLog())).toBe('whsec_c2VjcmV0');
  });

  it('comes from WEBHOOK_SIGNING_SECRET without a vault', async () => {
    const provider = await webhookSecretProviderFromSettings(
      parseSettings({ WEBHOOK_SIGNING_SECRET: 'local-secret' }),
    );
    expect(await provider?.get(captureLog())).toBe('local-secret');
  });

  it('a secret name without a vault is a configuration failure, not "unsigned is fine"', async () => {
    const provider = await webhookSecretProviderFromSettings(
      parseSettings({ WEBHOOK_SIGNING_SECRET_NAME: 'webhook-signing' }),
    );
    const error = await provider?.get(captureLog()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect((error as Error).message).toMatch(/KEY_VAULT_URI/);
  });
});
