/**
 * A small local Azure Key Vault (secrets, GET only) plus an App Service / Functions managed
 * identity endpoint, so tests can point the REAL `SecretClient` with the REAL
 * `DefaultAzureCredential` at it.
 *
 * How the SDK reaches it (verified against @azure/keyvault-secrets 4.11.1, @azure/identity 4.13.1,
 * @azure/msal-node 5.6.0):
 *
 * 1. The vault URL is `http://127.0.0.1:<port>`. The SDK's challenge policy sends the first request
 *    without a token; the fake answers 401 with
 *    `WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/<tenant>", resource="<vault url>"`.
 *    The policy then checks that the vault host ends with `.` + the resource host
 *    (`hostname.endsWith('.' + resourceHost)`), which no loopback IP can satisfy (127.0.0.1 does
 *    not end with `.127.0.0.1`, and every shorter suffix such as `0.0.1` is itself parsed as an
 *    IPv4 address). So the client MUST be created with `disableChallengeResourceVerification: true`
 *    when the vault is on loopback. `allowInsecureConnection` is NOT needed: the Key Vault
 *    challenge policy, unlike core's bearerTokenAuthenticationPolicy, does not insist on https.
 * 2. The token comes from DefaultAzureCredential -> ManagedIdentityCredential -> msal-node's
 *    App Service source, which is chosen when IDENTITY_ENDPOINT and IDENTITY_HEADER are set. It
 *    sends `GET <IDENTITY_ENDPOINT>?api-version=2019-08-01&resource=<vault url>` (plus `client_id=`
 *    when AZURE_CLIENT_ID is set, `principal_id=` / `mi_res_id=` for object / resource ids) with
 *    header `X-IDENTITY-HEADER: <IDENTITY_HEADER>`; plain http is accepted.
 *
 * msal-node caches the selected managed identity source (with its endpoint and header) in a static
 * field for the life of the process, and its token cache is process-wide too. So the identity
 * endpoint here is ONE process-wide server (started on first use, unref'd, never closed) shared
 * by every vault fake; each vault only accepts tokens issued for its own URL (resource). Because
 * of the same static caching, env must be in place before the first token is requested, and
 * `DefaultAzureCredential` reads the env when it is constructed: call `useFakeManagedIdentity()`
 * before `new DefaultAzureCredential()`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type KeyVaultFakeMode = 'ok' | 'forbidden' | 'down' | 'throttled';

export interface KeyVaultFake {
  /** http://127.0.0.1:<port> (the KEY_VAULT_URI). */
  url: string;
  /** Env the credential needs (App Service / Functions managed identity). */
  identityEnv: { IDENTITY_ENDPOINT: string; IDENTITY_HEADER: string };
  /** Creates the secret, or rotates it (a new version with a new id). */
  setSecret(name: string, value: string): void;
  /** Removes the secret and all its versions (later GETs get 404 SecretNotFound). */
  deleteSecret(name: string): void;
  /**
   * forbidden: authorised secret GETs get 403 Forbidden / ForbiddenByRbac.
   * down: secret requests get their socket destroyed (connection reset). The identity endpoint stays up.
   * throttled: authorised secret GETs get 429 with Retry-After: 1.
   */
  setMode(mode: KeyVaultFakeMode): void;
  /** Authorised secret GETs that reached the vault (any answer; not challenges, not token calls, not 'down'). */
  secretRequests(): number;
  /** Calls to the identity endpoint asking for a token for this vault. */
  tokenRequests(): number;
  /** Stops the vault, destroying keep-alive sockets so it closes promptly. */
  close(): Promise<void>;
}

/** Tenant named in the challenge (managed identity ignores it, but the SDK parses it). */
export const FAKE_TENANT_ID = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const MSI_API_VERSION = '2019-08-01';
const TOKEN_LIFETIME_SECONDS = 3600;
const SECRET_NAME = /^[0-9a-zA-Z-]{1,127}$/;

/** Env that would make DefaultAzureCredential (or msal-node) pick a source other than App Service MI. */
const CONFLICTING_ENV = [
  // AZURE_TOKEN_CREDENTIALS narrows/reorders the chain ('dev' would skip managed identity); set below instead.
  'AZURE_TOKEN_CREDENTIALS',
  // EnvironmentCredential (client secret / certificate / username+password) comes first in the chain.
  'AZURE_TENANT_ID',
  'AZURE_CLIENT_SECRET',
  'AZURE_CLIENT_CERTIFICATE_PATH',
  'AZURE_CLIENT_CERTIFICATE_PASSWORD',
  'AZURE_CLIENT_SEND_CERTIFICATE_CHAIN',
  'AZURE_USERNAME',
  'AZURE_PASSWORD',
  'AZURE_ADDITIONALLY_ALLOWED_TENANTS',
  'AZURE_AUTHORITY_HOST',
  // WorkloadIdentityCredential, and ManagedIdentityCredential's AKS token-exchange path.
  'AZURE_FEDERATED_TOKEN_FILE',
  // Service Fabric wins over App Service when IDENTITY_SERVER_THUMBPRINT is set.
  'IDENTITY_SERVER_THUMBPRINT',
  // Other msal-node managed identity sources (Machine Learning, Cloud Shell, Azure Arc, IMDS).
  'MSI_ENDPOINT',
  'MSI_SECRET',
  'DEFAULT_IDENTITY_CLIENT_ID',
  'IMDS_ENDPOINT',
  'AZURE_POD_IDENTITY_AUTHORITY_HOST',
] as const;

interface IssuedToken {
  resource: string;
  expiresOn: number;
}

interface IdentityServer {
  endpoint: string;
  header: string;
  tokens: Map<string, IssuedToken>;
  /** Token requests per resource (normalised: no trailing slash). */
  requestsByResource: Map<string, number>;
  /** Last user-assigned id query seen per resource, for diagnostics. */
  lastIdentityQuery: Map<string, Record<string, string>>;
}

let identityServer: Promise<IdentityServer> | undefined;

const nowSeconds = () => Math.floor(Date.now() / 1000);
const normaliseResource = (resource: string) => resource.replace(/\/+$/, '');

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text).toString(),
    'x-ms-request-id': randomUUID(),
    ...headers,
  });
  res.end(text);
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

function getIdentityServer(): Promise<IdentityServer> {
  identityServer ??= startIdentityServer();
  return identityServer;
}

async function startIdentityServer(): Promise<IdentityServer> {
  const state: Omit<IdentityServer, 'endpoint'> = {
    header: randomBytes(16).toString('hex'),
    tokens: new Map(),
    requestsByResource: new Map(),
    lastIdentityQuery: new Map(),
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/msi/token') {
      sendJson(res, 404, { error: 'not_found', error_description: `No route ${url.pathname}` });
      return;
    }
    const resourceParam = url.searchParams.get('resource');
    if (resourceParam) {
      const key = normaliseResource(resourceParam);
      state.requestsByResource.set(key, (state.requestsByResource.get(key) ?? 0) + 1);
      const ids: Record<string, string> = {};
      for (const name of ['client_id', 'principal_id', 'object_id', 'mi_res_id']) {
        const value = url.searchParams.get(name);
        if (value) ids[name] = value;
      }
      state.lastIdentityQuery.set(key, ids);
    }
    if (req.method !== 'GET') {
      sendJson(res, 405, { error: 'invalid_request', error_description: 'Only GET is supported.' });
      return;
    }
    if (req.headers['x-identity-header'] !== state.header) {
      // What App Service answers for a missing/wrong secret header.
      sendJson(res, 401, {
        error: 'unauthorized',
        error_description: 'X-IDENTITY-HEADER is missing or wrong.',
      });
      return;
    }
    if (url.searchParams.get('api-version') !== MSI_API_VERSION || !resourceParam) {
      sendJson(res, 400, {
        error: 'invalid_request',
        error_description: `api-version=${MSI_API_VERSION} and resource are required.`,
      });
      return;
    }
    const resource = normaliseResource(resourceParam);
    const accessToken = `fake-mi.${randomBytes(24).toString('base64url')}`;
    const expiresOn = nowSeconds() + TOKEN_LIFETIME_SECONDS;
    state.tokens.set(accessToken, { resource, expiresOn });
    sendJson(res, 200, {
      access_token: accessToken,
      expires_on: String(expiresOn),
      resource: resourceParam,
      token_type: 'Bearer',
      client_id: url.searchParams.get('client_id') ?? '00000000-0000-0000-0000-00000000f4c3',
    });
  });
  // Process-wide and never closed (msal-node keeps pointing at it): don't keep the process alive.
  server.keepAliveTimeout = 1_000;
  server.on('connection', (socket) => socket.unref());
  server.unref();
  const port = await listen(server);
  return { ...state, endpoint: `http://127.0.0.1:${port}/msi/token` };
}

interface SecretVersion {
  version: string;
  value: string;
  created: number;
  updated: number;
}

export async function startKeyVaultFake(
  secrets: Record<string, string> = {},
): Promise<KeyVaultFake> {
  const identity = await getIdentityServer();
  const store = new Map<string, SecretVersion[]>();
  const sockets = new Set<Socket>();
  let mode: KeyVaultFakeMode = 'ok';
  let secretRequests = 0;
  let url = '';
  let closing: Promise<void> | undefined;

  const setSecret = (name: string, value: string) => {
    if (!SECRET_NAME.test(name)) throw new Error(`Invalid Key Vault secret name: ${name}`);
    const now = nowSeconds();
    const versions = store.get(name) ?? [];
    versions.push({ version: randomBytes(16).toString('hex'), value, created: now, updated: now });
    store.set(name, versions);
  };

  const challenge = () => ({
    'www-authenticate': `Bearer authorization="https://login.microsoftonline.com/${FAKE_TENANT_ID}", resource="${url}"`,
  });

  const unauthorized = (res: ServerResponse, message: string) =>
    sendJson(res, 401, { error: { code: 'Unauthorized', message } }, challenge());

  const handleSecret = (
    req: IncomingMessage,
    res: ServerResponse,
    requestUrl: URL,
    match: RegExpMatchArray,
  ) => {
    if (!requestUrl.searchParams.get('api-version')) {
      sendJson(res, 400, {
        error: { code: 'BadParameter', message: 'The api-version query parameter is required.' },
      });
      return;
    }
    const auth = req.headers.authorization;
    if (!auth) {
      unauthorized(res, 'AKV10000: Request is missing a Bearer or PoP token.');
      return;
    }
    const token = /^Bearer (.+)$/i.exec(auth)?.[1];
    const issued = token ? identity.tokens.get(token) : undefined;
    if (!issued || issued.resource !== url) {
      unauthorized(res, 'AKV10032: Invalid issuer or audience.');
      return;
    }
    if (issued.expiresOn <= nowSeconds()) {
      unauthorized(res, 'AKV10022: Invalid audience. The token has expired.');
      return;
    }
    if (req.method !== 'GET') {
      sendJson(res, 405, {
        error: { code: 'MethodNotAllowed', message: 'This fake only serves GET.' },
      });
      return;
    }
    secretRequests += 1;
    if (mode === 'forbidden') {
      sendJson(res, 403, {
        error: {
          code: 'Forbidden',
          message:
            "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nAction: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'",
          innererror: { code: 'ForbiddenByRbac' },
        },
      });
      return;
    }
    if (mode === 'throttled') {
      sendJson(
        res,
        429,
        {
          error: {
            code: 'Throttled',
            message:
              'Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached',
          },
        },
        { 'retry-after': '1' },
      );
      return;
    }
    const name = decodeURIComponent(match[1] ?? '');
    const wantedVersion = match[2] ? decodeURIComponent(match[2]) : undefined;
    const versions = store.get(name);
    const found = wantedVersion
      ? versions?.find((v) => v.version === wantedVersion)
      : versions?.at(-1);
    if (!found) {
      const nameOrId = wantedVersion ? `${name}/${wantedVersion}` : name;
      sendJson(res, 404, {
        error: {
          code: 'SecretNotFound',
          message: `A secret with (name/id) ${nameOrId} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
        },
      });
      return;
    }
    sendJson(res, 200, {
      value: found.value,
      id: `${url}/secrets/${name}/${found.version}`,
      attributes: {
        enabled: true,
        created: found.created,
        updated: found.updated,
        recoveryLevel: 'Recoverable+Purgeable',
        recoverableDays: 90,
      },
      tags: {},
    });
  };

  const server = createServer((req, res) => {
    const requestUrl = new URL(req.url ?? '/', 'http://127.0.0.1');
    const match = /^\/secrets\/([^/]+)(?:\/([^/]*))?\/?$/.exec(requestUrl.pathname);
    if (!match) {
      sendJson(res, 404, {
        error: { code: 'NotFound', message: `No route ${requestUrl.pathname}` },
      });
      return;
    }
    if (mode === 'down') {
      // Unreachable vault: reset the connection without answering.
      req.socket.destroy();
      return;
    }
    try {
      handleSecret(req, res, requestUrl, match);
    } catch (error) {
      sendJson(res, 500, { error: { code: 'InternalServerError', message: String(error) } });
    }
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  const port = await listen(server);
  url = `http://127.0.0.1:${port}`;
  for (const [name, value] of Object.entries(secrets)) setSecret(name, value);

  return {
    url,
    identityEnv: { IDENTITY_ENDPOINT: identity.endpoint, IDENTITY_HEADER: identity.header },
    setSecret,
    deleteSecret: (name) => {
      store.delete(name);
    },
    setMode: (next) => {
      mode = next;
    },
    secretRequests: () => secretRequests,
    tokenRequests: () => identity.requestsByResource.get(url) ?? 0,
    close: () => {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}

/**
 * Puts `vault.identityEnv` into process.env and removes env that would make DefaultAzureCredential
 * pick another source; returns a restore function. Call it BEFORE `new DefaultAzureCredential()`.
 *
 * Sets:   IDENTITY_ENDPOINT, IDENTITY_HEADER, and AZURE_TOKEN_CREDENTIALS=ManagedIdentityCredential
 *         (the chain is then only managed identity, so a failure is reported at once instead of
 *         falling through to Azure CLI / PowerShell / azd processes).
 * Removes: see CONFLICTING_ENV (AZURE_TENANT_ID, AZURE_CLIENT_SECRET, certificate / username env,
 *         AZURE_FEDERATED_TOKEN_FILE, IDENTITY_SERVER_THUMBPRINT, MSI_ENDPOINT, MSI_SECRET, IMDS_ENDPOINT...).
 * Keeps:  AZURE_CLIENT_ID. If set, the credential asks for that user-assigned identity
 *         (`client_id=` on the token request), which the fake accepts.
 */
export function useFakeManagedIdentity(vault: KeyVaultFake): () => void {
  const touched = [...CONFLICTING_ENV, 'IDENTITY_ENDPOINT', 'IDENTITY_HEADER'];
  const saved = new Map<string, string | undefined>(
    touched.map((name) => [name, process.env[name]]),
  );
  for (const name of CONFLICTING_ENV) delete process.env[name];
  process.env.IDENTITY_ENDPOINT = vault.identityEnv.IDENTITY_ENDPOINT;
  process.env.IDENTITY_HEADER = vault.identityEnv.IDENTITY_HEADER;
  process.env.AZURE_TOKEN_CREDENTIALS = 'ManagedIdentityCredential';
  return () => {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}
