/** The code a promise rejects with (a GatehouseError's `code`), or 'no error': for tables of refusals. */
export async function rejectionCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
  return 'no error';
}
