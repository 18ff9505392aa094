/**
 * scripts/ensure-webhook-secret.sh, azd's postprovision hook (azure.yaml), run for real by bash
 * with the environment azd gives it and a fake `az` first on PATH: the fake records every call
 * and plays the vault (secrets present or absent, errors on `show` or `set`). PATH holds only the
 * fake and the few tools the script uses, so no real Azure CLI is ever reached.
 *
 * Also: until the hook has run (or when it failed), the app refuses webhooks rather than taking
 * them unsigned.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { TableClient } from '@azure/data-tables';
import { HttpRequest } from '@azure/functions';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { DependencyUnavailableError, UnauthorizedError } from '../shared/errors.js';
import { WebhookAuthenticator } from '../shared/opt-outs/webhook-auth.js';
import { verifyWebhookSignature } from '../shared/opt-outs/webhook-signature.js';
import { webhookSecretProviderFromSettings } from '../shared/secrets.js';
import { parseSettings } from '../shared/settings.js';
import { type KeyVaultFake, startKeyVaultFake, useFakeManagedIdentity } from './fakes/key-vault.js';
import { captureLog } from './helpers/capture-log.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const script = join(root, 'scripts', 'ensure-webhook-secret.sh');

/** The format the hook must write: whsec_ + base64 of 32 random bytes. */
const GENERATED = /^whsec_[A-Za-z0-9+/]{43}=$/;
const VAULT = 'kv-abc123';
const NAME = 'webhook-signing-secret';
/** What azd gives the hook after provisioning infra/main.bicep (its outputs, among others). */
const AZD_ENV = {
  AZURE_ENV_NAME: 'hook-test',
  AZURE_KEY_VAULT_NAME: VAULT,
  AZURE_KEY_VAULT_URI: `https://${VAULT}.vault.azure.net/`,
  WEBHOOK_SIGNATURE_REQUIRED: 'true',
  WEBHOOK_SIGNING_SECRET_NAME: NAME,
};

interface AzCall {
  args: string[];
  /** For `set --file`: the file's content when az read it. */
  fileValue?: string;
}

interface VaultState {
  /** Secret name → current value. */
  secrets: Record<string, string>;
  /** Errors the next `show` calls print (stderr) and fail with, one per call, in order. */
  showErrors: { stderr: string; code: number }[];
  /** An error every `set` prints and fails with. */
  setError?: { stderr: string; code: number };
  calls: AzCall[];
}

/**
 * The fake Azure CLI: just enough of `az keyvault secret show` and `set` to answer as the real
 * one does, printing the secret's value (as az does) unless --query or --output none says not.
 */
const FAKE_AZ = `#!/usr/bin/env node
const fs = require('node:fs');
const statePath = process.env.FAKE_AZ_STATE;
const state = JSON.parse(fs.readFileSync(statePath, 'utf8'));
const args = process.argv.slice(2);
const opt = (...names) => {
  for (const name of names) {
    const i = args.indexOf(name);
    if (i >= 0) return args[i + 1];
  }
  return undefined;
};
const call = { args };
state.calls.push(call);
const save = () => fs.writeFileSync(statePath, JSON.stringify(state));
const fail = (error) => {
  save();
  process.stderr.write(error.stderr);
  process.exit(error.code);
};
const name = opt('--name', '-n');
const vault = opt('--vault-name');
const id = 'https://' + vault + '.vault.azure.net/secrets/' + name + '/0123456789abcdef';
const output = opt('--output', '-o');
if (args[0] === 'keyvault' && args[1] === 'secret' && args[2] === 'show') {
  if (state.showErrors.length > 0) fail(state.showErrors.shift());
  if (!(name in state.secrets)) {
    fail({
      code: 3,
      stderr: 'ERROR: (SecretNotFound) A secret with (name/id) ' + name + ' was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182\\nCode: SecretNotFound\\nMessage: A secret with (name/id) ' + name + ' was not found in this key vault.\\n',
    });
  }
  save();
  const secret = { id, name, value: state.secrets[name], attributes: { enabled: true } };
  const query = opt('--query');
  if (output === 'none') process.exit(0);
  process.stdout.write((query ? String(secret[query]) : JSON.stringify(secret, null, 2)) + '\\n');
  process.exit(0);
}
if (args[0] === 'keyvault' && args[1] === 'secret' && args[2] === 'set') {
  const file = opt('--file', '-f');
  const value = file !== undefined ? fs.readFileSync(file, 'utf8') : opt('--value');
  if (file !== undefined) call.fileValue = value;
  if (state.setError) fail(state.setError);
  state.secrets[name] = value;
  save();
  if (output !== 'none') process.stdout.write(JSON.stringify({ id, name, value }, null, 2) + '\\n');
  process.exit(0);
}
fail({ code: 2, stderr: 'ERROR: fake az does not know: ' + args.join(' ') + '\\n' });
`;

/** The tools the script may use besides az: linked into a folder that is all of PATH. */
const TOOLS = ['node', 'grep', 'sed', 'tr', 'mktemp', 'rm', 'sleep'];

function which(tool: string): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, tool);
    if (dir && existsSync(candidate)) return candidate;
  }
  throw new Error(`${tool} is not on PATH`);
}

let dir: string;
let toolsDir: string;
let fakeBin: string;
let statePath: string;
const bash = which('bash');

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'webhook-secret-hook-'));
  toolsDir = join(dir, 'tools');
  fakeBin = join(dir, 'fake-bin');
  mkdirSync(toolsDir);
  mkdirSync(fakeBin);
  for (const tool of TOOLS) symlinkSync(which(tool), join(toolsDir, tool));
  writeFileSync(join(fakeBin, 'az'), FAKE_AZ);
  chmodSync(join(fakeBin, 'az'), 0o755);
  statePath = join(dir, 'vault.json');
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function setVault(state: Partial<VaultState> = {}): void {
  writeFileSync(
    statePath,
    JSON.stringify({ secrets: {}, showErrors: [], calls: [], ...state } satisfies VaultState),
  );
}
const vault = (): VaultState => JSON.parse(readFileSync(statePath, 'utf8')) as VaultState;
const setCalls = () =>
  vault().calls.filter((c) => c.args.slice(0, 3).join(' ') === 'keyvault secret set');

/** Runs the hook as azd does: bash, from the project root, with the azd environment. */
function runHook(env: Record<string, string | undefined> = {}, { withAz = true } = {}) {
  const merged: Record<string, string> = {
    PATH: withAz ? `${fakeBin}${delimiter}${toolsDir}` : toolsDir,
    HOME: dir,
    TMPDIR: dir,
    FAKE_AZ_STATE: statePath,
    WEBHOOK_SECRET_RBAC_WAIT_SECONDS: '0',
    WEBHOOK_SECRET_RETRY_SECONDS: '0',
  };
  for (const [name, value] of Object.entries({ ...AZD_ENV, ...env })) {
    if (value !== undefined) merged[name] = value;
  }
  const result = spawnSync(bash, [script], { cwd: root, env: merged, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('scripts/ensure-webhook-secret.sh (the postprovision hook)', () => {
  beforeEach(() => setVault());

  it('is azd’s postprovision hook, for posix and windows shells alike', () => {
    const yaml = readFileSync(join(root, 'azure.yaml'), 'utf8');
    // A project-level hook (not the service's): it runs after every `azd provision` / `azd up`.
    const hooks = /^hooks:\n {2}postprovision:\n((?: {4}.*\n)+)/m.exec(yaml);
    expect(hooks, 'top-level hooks.postprovision in azure.yaml').not.toBeNull();
    expect(hooks![1]).toMatch(
      /^ {4}posix:\n {6}shell: sh\n {6}run: bash scripts\/ensure-webhook-secret\.sh$/m,
    );
    expect(hooks![1]).toMatch(
      /^ {4}windows:\n {6}shell: pwsh\n {6}run: bash scripts\/ensure-webhook-secret\.sh$/m,
    );
  });

  it('secret absent: creates one random whsec_ value, passed by file, never printed', () => {
    const run = runHook();
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const sets = setCalls();
    expect(sets).toHaveLength(1);
    const [set] = sets;
    const value = vault().secrets[NAME]!;
    expect(value).toMatch(GENERATED);
    expect(Buffer.from(value.slice('whsec_'.length), 'base64')).toHaveLength(32);
    expect(set!.fileValue).toBe(value); // the file's bytes, with no trailing newline
    // Into the right vault, under the right name; az prints nothing back (it would print the value).
    expect(set!.args).toEqual(expect.arrayContaining(['--vault-name', VAULT, '--name', NAME]));
    expect(set!.args.join(' ')).toMatch(/--output none/);
    // The value is on no command line, in no output, and its temporary file is gone.
    for (const call of vault().calls) expect(call.args.join(' ')).not.toContain(value);
    expect(run.stdout).not.toContain(value);
    expect(run.stderr).not.toContain(value);
    expect(run.stdout).not.toContain(value.slice('whsec_'.length, 20));
    const file = set!.args[set!.args.indexOf('--file') + 1]!;
    expect(existsSync(file)).toBe(false);
    // Says what it did, and how to read the secret.
    expect(run.stdout).toMatch(/created/);
    expect(run.stdout).toContain(
      `az keyvault secret show --vault-name '${VAULT}' --name '${NAME}'`,
    );
  });

  it('a value the app and the Standard Webhooks library both sign and verify with', () => {
    expect(runHook().status).toBe(0);
    const secret = vault().secrets[NAME]!;
    const body = '{"mobilenumber":"+353871234567","optoutresponse":"STOP"}';
    const at = new Date();
    const signature = new StandardWebhook(secret).sign('msg_1', at, body);
    const check = verifyWebhookSignature(
      secret,
      { id: 'msg_1', timestamp: String(Math.floor(at.getTime() / 1000)), signature },
      Buffer.from(body),
    );
    expect(check.ok).toBe(true);
  });

  it('a different value each time it creates one', () => {
    expect(runHook().status).toBe(0);
    const first = vault().secrets[NAME];
    setVault();
    expect(runHook().status).toBe(0);
    expect(vault().secrets[NAME]).toMatch(GENERATED);
    expect(vault().secrets[NAME]).not.toBe(first);
  });

  it('secret present: leaves it as it is, without printing it', () => {
    const existing = 'whsec_ZXhpc3Rpbmctc2VjcmV0LXRoYXQtbXVzdC1zdGF5';
    setVault({ secrets: { [NAME]: existing } });
    const run = runHook();
    expect(run.status).toBe(0);
    expect(setCalls()).toHaveLength(0);
    expect(vault().secrets[NAME]).toBe(existing);
    expect(run.stdout + run.stderr).not.toContain(existing);
    expect(run.stdout).toMatch(/already exists/);
  });

  it('run twice (every `azd provision`): the second run changes nothing', () => {
    expect(runHook().status).toBe(0);
    const created = vault().secrets[NAME];
    expect(runHook().status).toBe(0);
    expect(setCalls()).toHaveLength(1);
    expect(vault().secrets[NAME]).toBe(created);
  });

  it('signatures not required (REQUIRE_WEBHOOK_SIGNATURE=false): does nothing', () => {
    for (const required of ['false', 'False']) {
      const run = runHook({ WEBHOOK_SIGNATURE_REQUIRED: required });
      expect(run.status).toBe(0);
      expect(vault().calls).toEqual([]);
      expect(run.stdout).toMatch(/not required/);
    }
  });

  it('without the provisioning outputs: fails, touching nothing', () => {
    for (const missing of [
      'WEBHOOK_SIGNATURE_REQUIRED',
      'AZURE_KEY_VAULT_NAME',
      'WEBHOOK_SIGNING_SECRET_NAME',
    ]) {
      const run = runHook({ [missing]: undefined });
      expect(run.status, missing).not.toBe(0);
      expect(run.stderr, missing).toMatch(new RegExp(missing));
    }
    expect(runHook({ WEBHOOK_SIGNATURE_REQUIRED: 'yes' }).status).not.toBe(0);
    expect(vault().calls).toEqual([]);
  });

  it.each([
    [
      'the vault unreachable',
      "ERROR: HTTPSConnectionPool(host='kv-abc123.vault.azure.net', port=443): Max retries exceeded with url: /secrets/webhook-signing-secret/?api-version=7.4\n",
    ],
    ['not signed in', "ERROR: Please run 'az login' to setup account.\n"],
    [
      'another tenant',
      'ERROR: AKV10032: Invalid issuer. Expected one of https://sts.windows.net/72f988bf/\n',
    ],
  ])('`show` fails other than "not found" (%s): fails non-zero, writes nothing', (_, stderr) => {
    setVault({ showErrors: [{ stderr, code: 1 }] });
    const run = runHook();
    expect(run.status).not.toBe(0);
    expect(setCalls()).toHaveLength(0);
    expect(vault().secrets).toEqual({});
    expect(run.stderr).toContain(stderr.trim()); // az's own reason is shown
    expect(run.stderr).toMatch(/nothing was written/);
  });

  const forbidden = {
    code: 1,
    stderr:
      'ERROR: (Forbidden) Caller is not authorized to perform action on resource.\nCode: Forbidden\nInner error: {"code": "ForbiddenByRbac"}\n',
  };

  it('forbidden while a new role assignment applies: tries again, then creates the secret', () => {
    setVault({ showErrors: [forbidden, forbidden] });
    const run = runHook({
      WEBHOOK_SECRET_RBAC_WAIT_SECONDS: '5',
      WEBHOOK_SECRET_RETRY_SECONDS: '1',
    });
    expect(run.status).toBe(0);
    const shows = vault().calls.filter((c) => c.args[2] === 'show');
    expect(shows).toHaveLength(3);
    expect(setCalls()).toHaveLength(1);
    expect(run.stdout).toMatch(/Trying again/);
  }, 20_000);

  it('still forbidden after the wait: fails non-zero, writes nothing', () => {
    setVault({ showErrors: Array.from({ length: 5 }, () => forbidden) });
    const run = runHook({
      WEBHOOK_SECRET_RBAC_WAIT_SECONDS: '2',
      WEBHOOK_SECRET_RETRY_SECONDS: '1',
    });
    expect(run.status).not.toBe(0);
    expect(setCalls()).toHaveLength(0);
    expect(run.stderr).toMatch(/Key Vault Secrets Officer/);
  }, 20_000);

  it('a disabled secret exists: left alone (never overwritten), with a warning', () => {
    setVault({
      secrets: { [NAME]: 'whsec_ZGlzYWJsZWQ=' },
      showErrors: [
        {
          code: 1,
          stderr:
            'ERROR: (Forbidden) Operation get is not allowed on a disabled secret.\nCode: Forbidden\nInner error: {"code": "SecretDisabled"}\n',
        },
      ],
    });
    const run = runHook();
    expect(run.status).toBe(0);
    expect(setCalls()).toHaveLength(0);
    expect(run.stdout).toMatch(/disabled/);
  });

  it('`set` fails: fails non-zero, without printing the value', () => {
    setVault({
      setError: {
        code: 1,
        stderr:
          'ERROR: (Conflict) Secret webhook-signing-secret is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.\nCode: Conflict\nInner error: {"code": "ObjectIsDeletedButRecoverable"}\n',
      },
    });
    const run = runHook();
    expect(run.status).not.toBe(0);
    const value = setCalls()[0]!.fileValue!;
    expect(value).toMatch(GENERATED);
    expect(run.stdout + run.stderr).not.toContain(value);
    expect(run.stderr).toMatch(/az keyvault secret recover/);
  });

  it('no Azure CLI: fails non-zero and says what to do', () => {
    const run = runHook({}, { withAz: false });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/Azure CLI/);
    expect(run.stderr).toMatch(/REQUIRE_WEBHOOK_SIGNATURE false/);
  });
});

/**
 * Between provisioning (the app setting names the secret) and the hook creating it, or when the
 * hook failed: the app must refuse webhooks (503, the vault has no secret; 401 once it has one
 * and the delivery is unsigned), never take them unsigned.
 */
describe('before the hook has created the secret, the app fails closed', () => {
  let keyVault: KeyVaultFake;
  let restore: () => void;
  /** The webhook-id table: verification fails before it, so touching it is a failure. */
  const untouchable = new Proxy({} as TableClient, {
    get: (_, property) => {
      throw new Error(`the webhook-id table was used (${String(property)})`);
    },
  });
  const unsigned = () =>
    new HttpRequest({
      method: 'POST',
      url: 'http://localhost/api/optout',
      headers: { 'content-type': 'application/json' },
      body: { string: '{"mobilenumber":"+353871234567"}' },
    });

  beforeAll(async () => {
    keyVault = await startKeyVaultFake({ 'sendmode-api-key': 'key' });
    restore = useFakeManagedIdentity(keyVault);
  });
  afterEach(() => keyVault?.deleteSecret(NAME));
  afterAll(async () => {
    restore?.();
    await keyVault?.close();
  });

  it('secret named but absent: every delivery is refused as a vault failure (503)', async () => {
    const settings = parseSettings({
      KEY_VAULT_URI: keyVault.url,
      WEBHOOK_SIGNING_SECRET_NAME: NAME,
    });
    const provider = await webhookSecretProviderFromSettings(settings);
    expect(provider).toBeDefined();
    const authenticator = new WebhookAuthenticator(provider, untouchable);
    const log = captureLog();
    const error = await authenticator
      .verify(unsigned(), Buffer.from('{"mobilenumber":"+353871234567"}'), log)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect((error as DependencyUnavailableError).dependency).toBe('key-vault');

    // The hook creates it: unsigned deliveries are now refused as unsigned (401).
    keyVault.setSecret(NAME, 'whsec_c2VjcmV0LWZyb20tdGhlLWhvb2s=');
    const later = await authenticator
      .verify(unsigned(), Buffer.from('{"mobilenumber":"+353871234567"}'), log)
      .catch((e: unknown) => e);
    expect(later).toBeInstanceOf(UnauthorizedError);
  });
});
