/**
 * Registers the pipeline's search attributes (src/workflows/search-attributes.ts) on a namespace
 * when they are missing. `start-batch` and `resume` do it before starting books, and every worker
 * at start: a book workflow upserting an attribute the namespace lacks fails its workflow task
 * until someone adds it, so a worker upgraded to code that sets a new attribute (e.g.
 * `GrinParkReason`) must not run against a namespace without it.
 */
import type { OperatorService } from '@temporalio/client';
import { PipelineError } from './common/errors';
import { SEARCH_ATTRIBUTES } from './workflows/search-attributes';

export class SearchAttributesMissingError extends PipelineError {
  constructor(
    readonly namespace: string,
    readonly missing: string[],
    cause: string,
  ) {
    super(
      `The Temporal namespace "${namespace}" lacks the search attributes ${missing.join(', ')} and they could not be added ` +
        `(${cause}). Ask the cluster's operator to add them as Keyword, e.g. ` +
        `\`temporal operator search-attribute create --name ${missing[0]} --type Keyword\` (Temporal Cloud: in the namespace's settings).`,
      { retryable: false },
    );
  }
}

/** Adds the missing ones; returns their names (empty when all were there). Throws SearchAttributesMissingError when the server refuses. */
export async function registerSearchAttributes(operator: OperatorService, namespace: string): Promise<string[]> {
  const { customAttributes } = await operator.listSearchAttributes({ namespace });
  const missing = Object.keys(SEARCH_ATTRIBUTES).filter((name) => !customAttributes?.[name]);
  if (missing.length === 0) return [];
  const { temporal } = await import('@temporalio/proto');
  try {
    await operator.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(
        missing.map((name) => [name, temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD]),
      ),
    });
  } catch (err) {
    throw new SearchAttributesMissingError(namespace, missing, err instanceof Error ? err.message : String(err));
  }
  return missing;
}
