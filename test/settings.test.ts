import { describe, expect, it } from 'vitest';

import {
  IN_FLIGHT_STALE_MS,
  MIN_IDEMPOTENCY_TTL_SECONDS,
} from '../shared/http/idempotency-limits.js';
import { queueNameForRegistration } from '../shared/queue-names.js';
import { SETTING_ALIASES } from '../shared/setting-aliases.js';
import { parseSettings, SettingsError } from '../shared/settings.js';

/** The problems a refused environment is reported with (fails the test if it is accepted). */
function problems(env: Record<string, string>): string[] {
  try {
    parseSettings(env);
  } catch (error) {
    expect(error).toBeInstanceOf(SettingsError);
    return (error as SettingsError).problems;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
}

describe('settings', () => {
  it('has a safe default for every setting', () => {
    const settings = parseSettings({});
    expect(settings.SENDMODE_BASE_URL).toBe('https://rest.sendmode.com/v2');
    expect(settings.SENDMODE_API_KEY_SECRET_NAME).toBe('sendmode-api-key');
    expect(settings.RATE_LIMIT_MAX_CALLS).toBe(100);
    expect(settings.RATE_LIMIT_WINDOW_SECONDS).toBe(60);
    expect(settings.IMPORT_QUEUE_NAME).toBe('customer-imports');
    expect(settings.API_KEY_CACHE_TTL_SECONDS).toBe(300);
    expect(settings.KEY_VAULT_URI).toBeUndefined();
  });

  it('names each bad setting in one error', () => {
    let error: unknown;
    try {
      parseSettings({
        RATE_LIMIT_MAX_CALLS: 'lots',
        SENDMODE_BASE_URL: 'not a url',
        KEY_VAULT_URI: 'http://myvault.vault.azure.net',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SettingsError);
    const problems = (error as SettingsError).problems.join('\n');
    expect(problems).toMatch(/RATE_LIMIT_MAX_CALLS/);
    expect(problems).toMatch(/SENDMODE_BASE_URL/);
    expect(problems).toMatch(/KEY_VAULT_URI/);
  });

  it('accepts http:// for a loopback vault only', () => {
    expect(parseSettings({ KEY_VAULT_URI: 'http://127.0.0.1:8200' }).KEY_VAULT_URI).toBe(
      'http://127.0.0.1:8200',
    );
    expect(parseSettings({ KEY_VAULT_URI: 'https://kv.vault.azure.net/' }).KEY_VAULT_URI).toBe(
      'https://kv.vault.azure.net/',
    );
    expect(() => parseSettings({ KEY_VAULT_URI: 'http://kv.vault.azure.net' })).toThrow(
      SettingsError,
    );
  });

  it('treats empty optional settings as unset', () => {
    const settings = parseSettings({ KEY_VAULT_URI: '', SENDMODE_API_KEY: '  ' });
    expect(settings.KEY_VAULT_URI).toBeUndefined();
    expect(settings.SENDMODE_API_KEY).toBeUndefined();
  });

  it('reserves a fifth of the limit for interactive work unless told otherwise', () => {
    expect(parseSettings({}).RATE_LIMIT_INTERACTIVE_RESERVE).toBe(20);
    expect(parseSettings({ RATE_LIMIT_MAX_CALLS: '12' }).RATE_LIMIT_INTERACTIVE_RESERVE).toBe(2);
    expect(
      parseSettings({ RATE_LIMIT_INTERACTIVE_RESERVE: '0' }).RATE_LIMIT_INTERACTIVE_RESERVE,
    ).toBe(0);
    expect(
      parseSettings({ RATE_LIMIT_INTERACTIVE_RESERVE: '35' }).RATE_LIMIT_INTERACTIVE_RESERVE,
    ).toBe(35);
  });

  it.each([
    ['equal to the limit', { RATE_LIMIT_MAX_CALLS: '10', RATE_LIMIT_INTERACTIVE_RESERVE: '10' }],
    ['above the limit', { RATE_LIMIT_INTERACTIVE_RESERVE: '150' }],
    ['negative', { RATE_LIMIT_INTERACTIVE_RESERVE: '-1' }],
    ['not a number', { RATE_LIMIT_INTERACTIVE_RESERVE: 'lots' }],
  ])('refuses an interactive reserve %s, naming it', (_what, env) => {
    expect(() => parseSettings(env)).toThrow(/RATE_LIMIT_INTERACTIVE_RESERVE/);
  });
});

describe('IDEMPOTENCY_TTL_SECONDS', () => {
  it('has a floor above the in-flight guard, so a claim still in flight never expires', () => {
    expect(MIN_IDEMPOTENCY_TTL_SECONDS).toBe(900);
    expect(MIN_IDEMPOTENCY_TTL_SECONDS * 1_000).toBeGreaterThan(IN_FLIGHT_STALE_MS);
    expect(parseSettings({ IDEMPOTENCY_TTL_SECONDS: '900' }).IDEMPOTENCY_TTL_SECONDS).toBe(900);
    expect(parseSettings({}).IDEMPOTENCY_TTL_SECONDS).toBe(86_400);
  });

  it.each(['1', '60', '600', '899'])('%s s is refused, naming the setting and the floor', (ttl) => {
    expect(problems({ IDEMPOTENCY_TTL_SECONDS: ttl })).toEqual([
      expect.stringMatching(/^IDEMPOTENCY_TTL_SECONDS: must be at least 900 seconds/),
    ]);
  });
});

describe('SENDMODE_BASE_URL', () => {
  it.each([
    'http://127.0.0.1:8081/v2',
    'http://127.0.0.2:8081/v2',
    'http://localhost:8081/3.0',
    'http://[::1]:8081/v2',
    'https://rest.sendmode.com/v2',
    'https://sendmode-proxy.example.com/v2',
  ])('%s is accepted', (url) => {
    expect(parseSettings({ SENDMODE_BASE_URL: url }).SENDMODE_BASE_URL).toBe(url);
  });

  it.each([
    ['plain http to a remote host', 'http://rest.sendmode.com/v2', /must be https:\/\//],
    ['plain http to a look-alike host', 'http://127.0.0.1.example.com/v2', /must be https:\/\//],
    ['another scheme', 'ftp://rest.sendmode.com/v2', /must be an https:\/\/ URL/],
    ['not a URL', 'rest.sendmode.com/v2', /must be an https:\/\/ URL/],
  ])('%s is refused, named', (_what, url, message) => {
    const [problem, ...more] = problems({ SENDMODE_BASE_URL: url });
    expect(more).toEqual([]);
    expect(problem).toMatch(/^SENDMODE_BASE_URL: /);
    expect(problem).toMatch(message);
    expect(problem).not.toContain(url);
  });

  it.each([
    'https://acme:Hunter2-secret@rest.sendmode.com/v2',
    'https://Hunter2-secret@rest.sendmode.com/v2',
    'http://acme:Hunter2-secret@127.0.0.1:8081/v2',
  ])('a user name or password is refused without echoing it (%#)', (url) => {
    let error: unknown;
    try {
      parseSettings({ SENDMODE_BASE_URL: url });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SettingsError);
    const { problems: found, message } = error as SettingsError;
    expect(found).toEqual([
      expect.stringMatching(/^SENDMODE_BASE_URL: must not carry a user name or password/),
    ]);
    expect(message).not.toContain('Hunter2');
    expect(message).not.toContain('acme');
  });

  it('a KEY_VAULT_URI with a password is refused the same way', () => {
    const found = problems({ KEY_VAULT_URI: 'https://me:Hunter2-secret@kv.vault.azure.net/' });
    expect(found).toEqual([expect.stringMatching(/^KEY_VAULT_URI: must not carry a user name/)]);
    expect(found.join('\n')).not.toContain('Hunter2');
  });

  it('the other generation’s URL is refused without echoing the value', () => {
    const url = 'https://sms-rest.sendmode.dev/3.0?token=Hunter2-secret';
    const found = problems({ SENDMODE_API_VERSION: 'v2', SENDMODE_BASE_URL: url });
    expect(found).toEqual([expect.stringMatching(/^SENDMODE_BASE_URL: .*v3 API/)]);
    expect(found.join('\n')).not.toContain('Hunter2');
  });
});

describe('APP_SERVICE_AUTH_ENABLED', () => {
  it('is off unless set: the principal header is not trusted by default', () => {
    expect(parseSettings({}).APP_SERVICE_AUTH_ENABLED).toBe(false);
    expect(parseSettings({ APP_SERVICE_AUTH_ENABLED: '' }).APP_SERVICE_AUTH_ENABLED).toBe(false);
  });

  it.each([
    ['true', true],
    ['TRUE', true],
    ['True', true],
    ['false', false],
    ['False', false],
  ])('%s → %s', (value, expected) => {
    expect(parseSettings({ APP_SERVICE_AUTH_ENABLED: value }).APP_SERVICE_AUTH_ENABLED).toBe(
      expected,
    );
  });

  it.each(['yes', '1', 'on', 'enabled', 'maybe'])('%s is refused, named', (value) => {
    expect(problems({ APP_SERVICE_AUTH_ENABLED: value })).toEqual([
      expect.stringMatching(/^APP_SERVICE_AUTH_ENABLED: must be true or false/),
    ]);
  });
});

describe('renamed settings (old names as aliases)', () => {
  it.each(Object.entries(SETTING_ALIASES))(
    '%s is still read under its old name %s',
    (name, old) => {
      const value = name.endsWith('KEYWORDS')
        ? 'HALT,DESIST'
        : name.endsWith('TABLE_NAME')
          ? 'renamedalias1'
          : 'renamed-alias-1';
      const settings = parseSettings({ [old]: value }) as unknown as Record<string, unknown>;
      expect(settings[name]).toBe(value);
      expect(settings).not.toHaveProperty(old);
    },
  );

  it('the new name wins over an equal old one, and an old invalid value is named as the new', () => {
    expect(
      parseSettings({ OPT_OUT_QUEUE_NAME: 'same-queue', OPTOUT_QUEUE_NAME: 'same-queue' })
        .OPT_OUT_QUEUE_NAME,
    ).toBe('same-queue');
    expect(problems({ OPTOUT_QUEUE_NAME: 'Not_A_Queue' })).toEqual([
      expect.stringMatching(/^OPT_OUT_QUEUE_NAME: /),
    ]);
  });

  it('both names with different values is an error naming both', () => {
    expect(problems({ OPT_OUT_QUEUE_NAME: 'new-queue', OPTOUT_QUEUE_NAME: 'old-queue' })).toEqual([
      expect.stringMatching(/OPT_OUT_QUEUE_NAME.*OPTOUT_QUEUE_NAME.*keep only OPT_OUT_QUEUE_NAME/),
    ]);
  });

  it('an empty old name counts as unset, as an empty setting does', () => {
    expect(parseSettings({ OPTOUT_QUEUE_NAME: ' ' }).OPT_OUT_QUEUE_NAME).toBe('optout-sync');
  });

  it('the queue trigger registers with the old name too (no zod at cold start)', () => {
    const env = process.env;
    try {
      process.env = { OPTOUT_QUEUE_NAME: 'legacy-sync' };
      expect(queueNameForRegistration('OPT_OUT_QUEUE_NAME')).toBe('legacy-sync');
      process.env = { OPTOUT_QUEUE_NAME: 'legacy-sync', OPT_OUT_QUEUE_NAME: 'current-sync' };
      expect(queueNameForRegistration('OPT_OUT_QUEUE_NAME')).toBe('current-sync');
    } finally {
      process.env = env;
    }
  });
});
