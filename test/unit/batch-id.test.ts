/** Batch ids: the default is the same for the same selection; a given id is checked before use. */
import { defaultBatchId, validateBatchId } from '../../src/cli/batch';
import { UsageError } from '../../src/cli/common';

test('the same selection gives the same default id; another selection another id', () => {
  const a = defaultBatchId('PRNC', ['111', '222', '333']);
  expect(a).toBe(defaultBatchId('PRNC', ['111', '222', '333']));
  expect(a).toMatch(/^batch-3-[0-9a-f]{10}$/);
  expect(defaultBatchId('PRNC', ['111', '222'])).not.toBe(a);
  expect(defaultBatchId('PRNC', ['333', '222', '111'])).not.toBe(a);
  expect(defaultBatchId('HARV', ['111', '222', '333'])).not.toBe(a);
  expect(validateBatchId(a)).toBe(a);
});

test.each(['first-10k', 'a', 'demo-20', 'x.y_z', 'A'.repeat(80)])('accepts %j', (id) => {
  expect(validateBatchId(id)).toBe(id);
});

test.each(['', '..', '../x', 'a/b', 'a\\b', '.hidden', '-flag', 'a..b', 'with space', 'é', 'A'.repeat(81), 'x"y'])(
  'refuses %j with a usage error (exit 2)',
  (id) => {
    let thrown: unknown;
    try {
      validateBatchId(id);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(UsageError);
    expect((thrown as UsageError).exitCode).toBe(2);
    expect((thrown as UsageError).message).toContain('--batch-id');
  },
);
