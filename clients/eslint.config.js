// ESLint for the SDK and the web client: typescript-eslint's type-aware rules on the sources,
// so a floating promise or an `any` leaking out is a lint error, not a review comment.
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/',
      '**/dist/',
      '**/test-dist/',
      '**/docs-api/',
      'eslint.config.js',
      'web/serve.mjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        project: ['js/tsconfig.test.json', 'web/tsconfig.json', 'web/tsconfig.test.json'],
        // import.meta.dirname needs Node 20.11; Debian 12 has Node 18.
        tsconfigRootDir: fileURLToPath(new URL('.', import.meta.url)),
      },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      '@typescript-eslint/no-unnecessary-condition': [
        'error',
        { allowConstantLoopConditions: true },
      ],
    },
  },
  {
    // The benchmark's Socket.IO peer: plain Node scripts, no TypeScript project to type-check
    // them against.
    files: ['bench/socketio/**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: { console: 'readonly', process: 'readonly', setTimeout: 'readonly' },
    },
  },
  {
    // node:test's test() and describe() return promises the runner itself awaits.
    files: ['js/test/**/*.ts', 'web/e2e/**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', name: ['test', 'describe', 'it'], package: 'node:test' },
          ],
        },
      ],
    },
  },
);
