/**
 * Registering the workflow's entry point.
 * @module
 */

import { Cancelled } from './waits.js';

/**
 * Wraps `run(input) => output` as the workflow's `run` export; export what
 * it returns as `run`.
 *
 * `input` is the workflow's input decoded from JSON and the return value
 * (or what the returned promise resolves to) is its output, encoded as
 * JSON. A thrown error fails the workflow with its message as the error
 * (its stack goes to the workflow's log); an uncaught {@link Cancelled}
 * ends it with error `cancelled`. `run` is called again from the start on
 * every replay.
 *
 * @example
 * export const run = duro.workflow((input) => ({ greeting: `hello ${input.name}` }));
 *
 * @param {(input: any) => unknown} run
 * @returns {(input: string) => string | Promise<string>} the component export
 */
export function workflow(run) {
  return (input) => {
    let value;
    try {
      value = JSON.parse(input);
    } catch (error) {
      throw failure(`the input is not JSON: ${error.message}`);
    }
    let output;
    try {
      output = run(value);
    } catch (error) {
      throw failed(error);
    }
    if (output !== null && typeof output === 'object' && typeof output.then === 'function') {
      return output.then(encode, (error) => {
        throw failed(error);
      });
    }
    return encode(output);
  };
}

/** @param {unknown} output */
function encode(output) {
  let json;
  try {
    json = JSON.stringify(output);
  } catch (error) {
    throw failure(`the output is not JSON serializable: ${error.message}`);
  }
  if (json === undefined) {
    throw failure('the output is not JSON serializable');
  }
  return json;
}

/**
 * The error a thrown `error` fails the workflow with.
 * @param {unknown} error
 */
function failed(error) {
  if (error instanceof Cancelled) {
    return failure(error.message);
  }
  if (error instanceof Error) {
    console.error(`${error.name}: ${error.message}\n${error.stack ?? ''}`);
    return failure(error.message || error.name);
  }
  return failure(String(error));
}

/**
 * What the component bindings turn into the export's `err(message)`: a
 * value whose own `payload` is the message.
 * @param {string} message
 */
function failure(message) {
  return { payload: message };
}
