// Lint for the extension sources, its tests and the node scripts around it.
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['out/**', 'node_modules/**', 'e2e/node_modules/**'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always'],
      'no-console': 'error',
    },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: {
      // Node scripts; e2e/run.mjs also passes functions to the page (window, document).
      globals: Object.fromEntries(
        ['process', 'console', 'setTimeout', 'URL', 'fetch', 'performance', 'window', 'document', 'MutationObserver'].map(
          (name) => [name, 'readonly'],
        ),
      ),
    },
  },
);
