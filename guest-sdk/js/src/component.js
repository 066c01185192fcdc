/**
 * What the component bindings hand over when an import returns `err`.
 * @module
 */

/**
 * The `err` value of a failed import call: componentize-js throws an error
 * whose `payload` holds it.
 * @param {unknown} thrown
 * @returns {any}
 */
export function errorPayload(thrown) {
  if (thrown !== null && typeof thrown === 'object' && 'payload' in thrown) {
    return thrown.payload;
  }
  throw thrown;
}
