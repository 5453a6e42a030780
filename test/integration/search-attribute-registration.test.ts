/**
 * The pipeline's search attributes are registered on a namespace that lacks them (what `start-batch`,
 * `resume` and every worker do at start, so a book never upserts one the namespace does not know),
 * and a second registration finds nothing missing. On the test's real Temporal dev server, in a
 * namespace created here without them.
 */
import { randomBytes } from 'node:crypto';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { registerSearchAttributes } from '../../src/search-attribute-registration';
import { SEARCH_ATTRIBUTES } from '../../src/workflows/search-attributes';
import { temporalAddress } from '../support/pipeline';
import { waitUntil } from '../support/wait';

jest.setTimeout(120_000);

test('a namespace without the search attributes gets all of them as Keyword, once', async () => {
  const connection = await Connection.connect({ address: temporalAddress() });
  try {
    const namespace = `sa-${randomBytes(4).toString('hex')}`;
    await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
    await waitUntil(
      async () => {
        try {
          await connection.operatorService.listSearchAttributes({ namespace });
          return true;
        } catch {
          return false;
        }
      },
      60_000,
      'namespace usable',
    );
    const before = (await connection.operatorService.listSearchAttributes({ namespace })).customAttributes ?? {};
    for (const name of Object.keys(SEARCH_ATTRIBUTES)) expect(before[name]).toBeUndefined();

    expect((await registerSearchAttributes(connection.operatorService, namespace)).sort()).toEqual(Object.keys(SEARCH_ATTRIBUTES).sort());
    const after = (await connection.operatorService.listSearchAttributes({ namespace })).customAttributes ?? {};
    const { temporal } = await import('@temporalio/proto');
    for (const name of Object.keys(SEARCH_ATTRIBUTES))
      expect({ name, type: after[name] }).toEqual({ name, type: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD });
    expect(Object.keys(SEARCH_ATTRIBUTES)).toContain('GrinParkReason');

    expect(await registerSearchAttributes(connection.operatorService, namespace)).toEqual([]);
  } finally {
    await connection.close();
  }
});
