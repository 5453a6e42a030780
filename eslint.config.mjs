// Lint rules: type-aware typescript-eslint, no floating promises anywhere, workflow code may not
// import Node built-ins (workflows must stay deterministic and run in Temporal's sandbox), and the
// product in src/ may not import devkit/ (the simulator, dev servers and demo are built on it). The
// compiler refuses the same through src/tsconfig.json (rootDir src), except a plain require(), which
// only this rule sees.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

// Any relative specifier that passes through a devkit folder: '../devkit/simulator', '../../devkit'.
const DEVKIT = '^\\.\\.?/(?:.*/)?devkit(?:/|$)';
const DEVKIT_MESSAGE = 'src/ is the product and may not depend on devkit/; move what it needs into src/.';
const devkitPatterns = [{ regex: DEVKIT, message: DEVKIT_MESSAGE }];
// no-restricted-imports sees import, export ... from and `import x = require()`; import(), require()
// and require.resolve() need selectors.
const devkitLiteral = `/${DEVKIT.replaceAll('/', '\\/')}/`;
const devkitCalls = [
  `ImportExpression[source.value=${devkitLiteral}]`,
  `CallExpression[callee.name='require'][arguments.0.value=${devkitLiteral}]`,
  `CallExpression[callee.object.name='require'][arguments.0.value=${devkitLiteral}]`,
].map((selector) => ({ selector, message: DEVKIT_MESSAGE }));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'tmp/**', '.demo/**', '**/*.mjs', '**/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: devkitPatterns }],
      'no-restricted-syntax': ['error', ...devkitCalls],
    },
  },
  {
    // Replaces the src/ entry's options for this rule, so the devkit patterns are repeated.
    files: ['src/workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'Workflow code must be deterministic: no Node built-ins.' })),
          patterns: devkitPatterns,
        },
      ],
    },
  },
);
