/** The one Temporal setup step on the real dev server: creates what is missing, and a second run changes nothing. */
import { randomUUID } from 'node:crypto';
import { Connection } from '@temporalio/client';
import { ensureTemporalSetup } from '../../src/temporal-setup/setup';
import { SEARCH_ATTRIBUTES } from '../../src/workflows/search-attributes';

test('a missing namespace is created with every search attribute; a second run changes nothing', async () => {
  const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS! });
  try {
    const namespace = `setup-${randomUUID().slice(0, 8)}`;
    const names = SEARCH_ATTRIBUTES.map((k) => k.name);
    await expect(ensureTemporalSetup(connection, namespace)).resolves.toEqual({ namespaceCreated: true, searchAttributesAdded: names });
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
    expect(Object.keys(customAttributes ?? {})).toEqual(expect.arrayContaining(names));
    await expect(ensureTemporalSetup(connection, namespace)).resolves.toEqual({ namespaceCreated: false, searchAttributesAdded: [] });
  } finally {
    await connection.close();
  }
});
