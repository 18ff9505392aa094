import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import simpleImportSort from 'eslint-plugin-simple-import-sort';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.azurite/**', '.tools/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // Rules that need the types: the code relies on every promise being awaited or handled
    // (a dropped one loses a write or an answer) and on switches over error kinds and
    // dispositions covering every case.
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { project: './tsconfig.check.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true },
      ],
    },
  },
  {
    // A run-time import cycle works only while what it uses is hoisted; type-only imports
    // vanish when compiled, so they may go both ways. Imports sorted, one per module (types
    // inline), so a diff shows what changed.
    plugins: { 'import-x': importX, 'simple-import-sort': simpleImportSort },
    settings: {
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [
        createTypeScriptImportResolver({ project: './tsconfig.check.json' }),
      ],
    },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-duplicates': ['error', { 'prefer-inline': true }],
      'simple-import-sort/imports': 'error',
      'simple-import-sort/exports': 'error',
    },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      'no-console': 'off',
    },
  },
  {
    // Only the settings module may read the environment (design: one settings module).
    files: ['functions/**/*.ts', 'shared/**/*.ts'],
    // shared/queue-names.ts reads the queue names for the trigger registrations without zod (cold
    // start); shared/settings.ts validates the same settings with the same pattern and defaults.
    // shared/telemetry/start.ts reads the Application Insights and OTEL_* variables the exporter
    // reads itself, before the host starts the app (so before any settings are loaded).
    ignores: ['shared/settings.ts', 'shared/queue-names.ts', 'shared/telemetry/start.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        {
          object: 'process',
          property: 'env',
          message: 'Read settings through shared/settings.ts.',
        },
      ],
      // `import { z }` makes the bundle keep all of zod (locales included, ~750 KiB) where
      // `import * as z` lets esbuild keep only what is used (~200 KiB), loaded at every cold start.
      'no-restricted-syntax': [
        'error',
        {
          selector:
            "ImportDeclaration[source.value='zod'][importKind='value'] ImportSpecifier[importKind='value'][imported.name='z']",
          message: "Use `import * as z from 'zod'` so the bundle tree-shakes zod.",
        },
      ],
    },
  },
);
