/**
 * Milvus 2.6 error statuses (pkg/util/merr): a `code`, the deprecated `error_code` the Node SDK still checks,
 * and a `reason` worded the way the proxy words it.
 */

export interface WireStatus {
  error_code: string;
  reason: string;
  code: number;
  retriable: boolean;
  detail: string;
  extra_info: Record<string, string>;
}

export const OK_STATUS: WireStatus = {
  error_code: "Success",
  reason: "",
  code: 0,
  retriable: false,
  detail: "",
  extra_info: {},
};

/** A failure Milvus reports inside the response's `status` (the RPC itself succeeds). */
export class MilvusError extends Error {
  constructor(
    readonly code: number,
    readonly errorCode: string,
    readonly reason: string,
    readonly inputError = false,
    readonly retriable = false,
  ) {
    super(reason);
  }

  toStatus(): WireStatus {
    return {
      error_code: this.errorCode,
      reason: this.reason,
      code: this.code,
      retriable: this.retriable,
      detail: this.reason,
      extra_info: this.inputError ? { is_input_error: "true" } : {},
    };
  }
}

/** merr.WrapErrParameterInvalidMsg: code 1100, "<msg>: invalid parameter". */
export function invalidParameter(message: string): MilvusError {
  return new MilvusError(1100, "IllegalArgument", `${message}: invalid parameter`, true);
}

/** merr.WrapErrParameterInvalid(expected, actual, msg). */
export function invalidParameterValue(expected: unknown, actual: unknown, message: string): MilvusError {
  return new MilvusError(
    1100,
    "IllegalArgument",
    `${message}: invalid parameter[expected=${String(expected)}][actual=${String(actual)}]`,
    true,
  );
}

/** Plain errors the proxy returns unwrapped (fmt.Errorf) map to code 65535. */
export function unexpected(message: string): MilvusError {
  return new MilvusError(65535, "UnexpectedError", message);
}

export function collectionNotFound(database: string, collection: string): MilvusError {
  return new MilvusError(
    100,
    "CollectionNotExists",
    `can't find collection[database=${database}][collection=${collection}]`,
    true,
  );
}

export function collectionNotLoaded(collectionId: string): MilvusError {
  return new MilvusError(101, "UnexpectedError", `collection not loaded[collection=${collectionId}]`);
}

export function collectionQuotaExceeded(database: string, limit: number): MilvusError {
  return new MilvusError(
    102,
    "UnexpectedError",
    `exceeded the limit number of collections[dbName=${database}][limit=${limit}]`,
  );
}

export function indexNotFound(collection: string): MilvusError {
  return new MilvusError(700, "IndexNotExist", `index not found[collection=${collection}]`);
}

export function databaseNotFound(database: string): MilvusError {
  return new MilvusError(800, "UnexpectedError", `database not found[database=${database}]`, true);
}

/** Features real Milvus has but this test server does not: an explicit error, never a silent approximation. */
export function notSupported(what: string): MilvusError {
  return new MilvusError(65535, "UnexpectedError", `${what} is not supported by the milvus test server`);
}
