/**
 * Compiling .ts on require with swc (as jest does), as JavaScript source for places jest's transform
 * does not reach: child processes (`node -r <hook>`) and worker threads (eval'd code).
 */
export const TS_REQUIRE_HOOK = `
require.extensions['.ts'] = function (module, filename) {
  const { code } = require(${JSON.stringify(require.resolve('@swc/core'))}).transformSync(require('node:fs').readFileSync(filename, 'utf8'), {
    filename, jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' }, sourceMaps: 'inline',
  });
  module._compile(code, filename);
};
`;
