import { type AccessToken, DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import { SecretClient, type SecretClientOptions } from '@azure/keyvault-secrets';
import { afterEach, describe, expect, it } from 'vitest';

import { startKeyVaultFake, useFakeManagedIdentity } from './key-vault.js';

/**
 * Options a SecretClient needs to talk to the fake on http://127.0.0.1:<port>:
 * - allowInsecureConnection: the SDK's Node HTTP client refuses plain http without it.
 * - disableChallengeResourceVerification: the challenge policy requires the vault host to end
 *   with "." + the challenge resource host, which is impossible for a loopback IP.
 */
const fakeVaultOptions: SecretClientOptions = {
  allowInsecureConnection: true,
  disableChallengeResourceVerification: true,
  retryOptions: { maxRetries: 0 },
};

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function setUp(secrets: Record<string, string> = { 'sendmode-api-key': 'key-1' }) {
  const vault = await startKeyVaultFake(secrets);
  cleanups.push(() => vault.close());
  cleanups.push(useFakeManagedIdentity(vault));
  const credential = new DefaultAzureCredential();
  const client = new SecretClient(vault.url, credential, fakeVaultOptions);
  return { vault, credential, client };
}

async function failure(promise: Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    return error as Record<string, unknown>;
  }
  throw new Error('expected the call to fail');
}

describe('Key Vault fake with the real SecretClient and DefaultAzureCredential', () => {
  it('reads a secret through the 401 challenge and a managed identity token', async () => {
    const { vault, client } = await setUp();

    const secret = await client.getSecret('sendmode-api-key');

    expect(secret.value).toBe('key-1');
    expect(secret.name).toBe('sendmode-api-key');
    expect(secret.properties.id).toMatch(
      new RegExp(`^${vault.url}/secrets/sendmode-api-key/[0-9a-f]{32}$`),
    );
    expect(secret.properties.vaultUrl).toBe(vault.url);
    expect(secret.properties.enabled).toBe(true);
    expect(secret.properties.recoveryLevel).toBe('Recoverable+Purgeable');
    expect(secret.properties.createdOn).toBeInstanceOf(Date);
    expect(vault.tokenRequests()).toBe(1);
    expect(vault.secretRequests()).toBe(1);
  });

  it('the SDK refuses plain http without allowInsecureConnection, and a loopback challenge without disableChallengeResourceVerification', async () => {
    const { vault, credential } = await setUp();

    const noInsecure = new SecretClient(vault.url, credential, { retryOptions: { maxRetries: 0 } });
    expect((await failure(noInsecure.getSecret('sendmode-api-key'))).message).toMatch(
      /allowInsecureConnection/,
    );

    const verifying = new SecretClient(vault.url, credential, {
      allowInsecureConnection: true,
      retryOptions: { maxRetries: 0 },
    });
    expect((await failure(verifying.getSecret('sendmode-api-key'))).message).toMatch(
      /disableChallengeResourceVerification/,
    );
    expect(vault.secretRequests()).toBe(0);
  });

  it('rotation returns the new value with a new version, and old versions stay readable', async () => {
    const { vault, client } = await setUp();
    const first = await client.getSecret('sendmode-api-key');

    vault.setSecret('sendmode-api-key', 'key-2');
    const second = await client.getSecret('sendmode-api-key');

    expect(second.value).toBe('key-2');
    expect(second.properties.version).toMatch(/^[0-9a-f]{32}$/);
    expect(second.properties.version).not.toBe(first.properties.version);
    expect(second.properties.id).not.toBe(first.properties.id);
    const old = await client.getSecret('sendmode-api-key', {
      version: first.properties.version ?? '',
    });
    expect(old.value).toBe('key-1');
  });

  it('an unknown or deleted secret is a RestError 404 SecretNotFound', async () => {
    const { vault, client } = await setUp();

    const unknown = await failure(client.getSecret('no-such-secret'));
    expect(unknown.name).toBe('RestError');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.code).toBe('SecretNotFound');
    expect(unknown.message).toMatch(
      /A secret with \(name\/id\) no-such-secret was not found in this key vault/,
    );

    vault.deleteSecret('sendmode-api-key');
    const deleted = await failure(client.getSecret('sendmode-api-key'));
    expect(deleted.statusCode).toBe(404);
    expect(vault.secretRequests()).toBe(2);
  });

  it('forbidden mode answers 403 Forbidden', async () => {
    const { vault, client } = await setUp();
    vault.setMode('forbidden');

    const error = await failure(client.getSecret('sendmode-api-key'));

    expect(error.name).toBe('RestError');
    expect(error.statusCode).toBe(403);
    expect(error.code).toBe('Forbidden');
    expect(vault.secretRequests()).toBe(1);

    vault.setMode('ok');
    expect((await client.getSecret('sendmode-api-key')).value).toBe('key-1');
  });

  it('throttled mode answers 429 with Retry-After', async () => {
    const { vault, client } = await setUp();
    vault.setMode('throttled');

    const error = await failure(client.getSecret('sendmode-api-key'));

    expect(error.statusCode).toBe(429);
    expect(error.code).toBe('Throttled');
    const response = error.response as { headers: { get(name: string): string | undefined } };
    expect(response.headers.get('retry-after')).toBe('1');
  });

  it('down mode resets the connection: an error at once with maxRetries 0', async () => {
    const { vault, client } = await setUp();
    await client.getSecret('sendmode-api-key'); // a kept-alive connection exists
    vault.setMode('down');

    const started = performance.now();
    const error = await failure(client.getSecret('sendmode-api-key'));
    const elapsedMs = performance.now() - started;

    expect(error.name).toBe('RestError');
    expect(error.code).toBe('ECONNRESET');
    expect(error.statusCode).toBeUndefined();
    expect(elapsedMs).toBeLessThan(1_000);
    expect(vault.secretRequests()).toBe(1);

    // A fresh client (no challenge done yet) fails the same way.
    const fresh = new SecretClient(vault.url, new DefaultAzureCredential(), fakeVaultOptions);
    expect((await failure(fresh.getSecret('sendmode-api-key'))).code).toBe('ECONNRESET');
  });

  it('the credential caches the token: more reads and more clients do not fetch a new one', async () => {
    const { vault, credential, client } = await setUp();

    await client.getSecret('sendmode-api-key');
    await client.getSecret('sendmode-api-key');
    const secondClient = new SecretClient(vault.url, credential, fakeVaultOptions);
    await secondClient.getSecret('sendmode-api-key');

    expect(vault.secretRequests()).toBe(3);
    expect(vault.tokenRequests()).toBe(1);
  });

  it('a token the identity endpoint did not issue gets 401 after the challenge', async () => {
    const vault = await startKeyVaultFake({ 'sendmode-api-key': 'key-1' });
    cleanups.push(() => vault.close());
    const forged: TokenCredential = {
      getToken: async (): Promise<AccessToken> => ({
        token: 'forged',
        expiresOnTimestamp: Date.now() + 3_600_000,
      }),
    };
    const client = new SecretClient(vault.url, forged, fakeVaultOptions);

    const error = await failure(client.getSecret('sendmode-api-key'));

    expect(error.statusCode).toBe(401);
    expect(vault.secretRequests()).toBe(0);
  });

  it('a token issued for another vault is rejected', async () => {
    const { vault: other, credential } = await setUp({ a: '1' });
    await new SecretClient(other.url, credential, fakeVaultOptions).getSecret('a');
    const vault = await startKeyVaultFake({ 'sendmode-api-key': 'key-1' });
    cleanups.push(() => vault.close());
    const otherVaultsToken = await credential.getToken(`${other.url}/.default`);
    const stolen: TokenCredential = { getToken: async () => otherVaultsToken };

    const error = await failure(
      new SecretClient(vault.url, stolen, fakeVaultOptions).getSecret('sendmode-api-key'),
    );

    expect(error.statusCode).toBe(401);
    expect(vault.secretRequests()).toBe(0);
  });

  it('several vaults in one process share the identity endpoint (msal-node caches it statically)', async () => {
    const { vault: first, client: firstClient } = await setUp({ a: 'from-first' });
    expect((await firstClient.getSecret('a')).value).toBe('from-first');
    const { vault: second, client: secondClient } = await setUp({ a: 'from-second' });

    expect(second.identityEnv).toEqual(first.identityEnv);
    expect((await secondClient.getSecret('a')).value).toBe('from-second');
    expect(second.tokenRequests()).toBe(1);
  });

  it('with AZURE_CLIENT_ID set, the user-assigned identity is requested and served', async () => {
    const previous = process.env.AZURE_CLIENT_ID;
    process.env.AZURE_CLIENT_ID = '11111111-2222-3333-4444-555555555555';
    cleanups.push(() => {
      if (previous === undefined) delete process.env.AZURE_CLIENT_ID;
      else process.env.AZURE_CLIENT_ID = previous;
    });
    const { vault, client } = await setUp();

    expect((await client.getSecret('sendmode-api-key')).value).toBe('key-1');
    expect(vault.tokenRequests()).toBe(1);
  });

  it('the identity endpoint requires X-IDENTITY-HEADER and answers the App Service token shape', async () => {
    const vault = await startKeyVaultFake();
    cleanups.push(() => vault.close());
    const { IDENTITY_ENDPOINT, IDENTITY_HEADER } = vault.identityEnv;
    const query = `?api-version=2019-08-01&resource=${encodeURIComponent(vault.url)}`;

    const without = await fetch(IDENTITY_ENDPOINT + query);
    expect(without.status).toBe(401);

    const response = await fetch(IDENTITY_ENDPOINT + query, {
      headers: { 'X-IDENTITY-HEADER': IDENTITY_HEADER },
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ resource: vault.url, token_type: 'Bearer' });
    expect(body.access_token).toEqual(expect.any(String));
    expect(Number(body.expires_on)).toBeGreaterThan(Date.now() / 1000);
    expect(body.expires_on).toEqual(expect.any(String));
    expect(vault.tokenRequests()).toBe(2);
  });

  it('restores the environment it changed', async () => {
    const before = { ...process.env };
    process.env.AZURE_CLIENT_SECRET = 'dev-secret';
    process.env.AZURE_TENANT_ID = 'dev-tenant';
    const vault = await startKeyVaultFake();
    cleanups.push(() => vault.close());

    const restore = useFakeManagedIdentity(vault);
    expect(process.env.AZURE_CLIENT_SECRET).toBeUndefined();
    expect(process.env.AZURE_TENANT_ID).toBeUndefined();
    expect(process.env.IDENTITY_ENDPOINT).toBe(vault.identityEnv.IDENTITY_ENDPOINT);
    restore();

    expect(process.env.AZURE_CLIENT_SECRET).toBe('dev-secret');
    expect(process.env.AZURE_TENANT_ID).toBe('dev-tenant');
    expect(process.env.IDENTITY_ENDPOINT).toBe(before.IDENTITY_ENDPOINT);
    delete process.env.AZURE_CLIENT_SECRET;
    delete process.env.AZURE_TENANT_ID;
    if (before.AZURE_CLIENT_SECRET !== undefined)
      process.env.AZURE_CLIENT_SECRET = before.AZURE_CLIENT_SECRET;
    if (before.AZURE_TENANT_ID !== undefined) process.env.AZURE_TENANT_ID = before.AZURE_TENANT_ID;
  });

  it('close() is prompt even with kept-alive client connections', async () => {
    const { vault, client } = await setUp();
    await client.getSecret('sendmode-api-key');

    const started = performance.now();
    await vault.close();

    expect(performance.now() - started).toBeLessThan(500);
  });
});
