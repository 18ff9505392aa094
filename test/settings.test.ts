import { describe, expect, it } from 'vitest';
import { parseSettings, SettingsError } from '../shared/settings.js';

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
