/** local.settings.sample.json lists every setting the settings module reads, each valid. */
import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { parseSettings, settingNames } from '../shared/settings.js';

const sample = JSON.parse(readFileSync('local.settings.sample.json', 'utf8')) as {
  Values: Record<string, string>;
};

describe('local.settings.sample.json', () => {
  it('names every setting', () => {
    const missing = settingNames().filter((name) => !(name in sample.Values));
    // Identity-based storage settings are for Azure only; locally the connection string is used.
    expect(missing.filter((name) => !name.startsWith('AzureWebJobsStorage__'))).toEqual([]);
  });

  it('parses as valid settings', () => {
    expect(() => parseSettings(sample.Values)).not.toThrow();
  });
});
