/** SENDMODE_API_VERSION, the base URL that follows it, and DEFAULT_SENDER_ID. */
import { describe, expect, it } from 'vitest';

import { parseSettings, SettingsError } from '../shared/settings.js';

function problems(env: Record<string, string>): string[] {
  try {
    parseSettings(env);
  } catch (error) {
    if (error instanceof SettingsError) return error.problems;
    throw error;
  }
  return [];
}

describe('SENDMODE_API_VERSION', () => {
  it('defaults to v2 and its public base URL', () => {
    const settings = parseSettings({});
    expect(settings.SENDMODE_API_VERSION).toBe('v2');
    expect(settings.SENDMODE_BASE_URL).toBe('https://rest.sendmode.com/v2');
  });

  it('v3 takes the 3.0 base URL by default', () => {
    expect(parseSettings({ SENDMODE_API_VERSION: 'v3' }).SENDMODE_BASE_URL).toBe(
      'https://sms-rest.sendmode.dev/3.0',
    );
  });

  it('an explicit base URL wins (the simulator)', () => {
    const settings = parseSettings({
      SENDMODE_API_VERSION: 'v3',
      SENDMODE_BASE_URL: 'http://127.0.0.1:8081/3.0',
    });
    expect(settings.SENDMODE_BASE_URL).toBe('http://127.0.0.1:8081/3.0');
  });

  it.each(['v1', 'V3', '3.0', 'engage'])('%s is refused, named', (value) => {
    expect(problems({ SENDMODE_API_VERSION: value })).toEqual([
      expect.stringMatching(/^SENDMODE_API_VERSION: must be v2 or v3/),
    ]);
  });

  it.each([
    ['v3', 'https://rest.sendmode.com/v2'],
    ['v2', 'https://sms-rest.sendmode.dev/3.0'],
  ])('version %s with the other generation’s public URL is refused', (version, url) => {
    expect(problems({ SENDMODE_API_VERSION: version, SENDMODE_BASE_URL: url })).toEqual([
      expect.stringMatching(/^SENDMODE_BASE_URL: .* but SENDMODE_API_VERSION is/),
    ]);
  });
});

describe('DEFAULT_SENDER_ID', () => {
  it.each(['Acme', 'Acme2024', '353871234567', '123456789012345'])('%s is accepted', (id) => {
    expect(parseSettings({ DEFAULT_SENDER_ID: id }).DEFAULT_SENDER_ID).toBe(id);
  });

  it.each(['Acme Ltd', 'AcmeLimited2024', '1234567890123456', 'Ácme', '<script>'])(
    '%s is refused, named',
    (id) => {
      expect(problems({ DEFAULT_SENDER_ID: id })).toEqual([
        expect.stringMatching(/^DEFAULT_SENDER_ID: must be 1-11 letters or digits/),
      ]);
    },
  );

  it('is unset by default (v2 sends stay as they were)', () => {
    expect(parseSettings({}).DEFAULT_SENDER_ID).toBeUndefined();
  });
});
