import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.azurite/**', '.tools/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
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
    ignores: ['shared/settings.ts', 'shared/queue-names.ts'],
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
