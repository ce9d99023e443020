import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import type { FetchError__Output } from './generated/fetchpool/v1/FetchError';

export const REASON_TRAILER = 'fetchpool-reason';

/** Why a call failed: the gRPC code, fetchpool's stable reason ("" when the transport failed) and its text. */
export class FetchpoolError extends Error {
  /** The gRPC status code number (grpc.status). */
  readonly code: number;
  /** The code's name, e.g. "DEADLINE_EXCEEDED". */
  readonly codeName: string;
  /** The `fetchpool-reason` trailer, e.g. "WAIT_TIMEOUT"; "" when fetchpool gave none. */
  readonly reason: string;

  constructor(code: number, reason: string, message: string) {
    super(message);
    this.name = 'FetchpoolError';
    this.code = code;
    this.codeName = status[code] ?? `CODE_${code}`;
    this.reason = reason;
  }

  /** From a failed grpc-js call. */
  static fromServiceError(error: Partial<ServiceError>): FetchpoolError {
    const trailers = error.metadata instanceof Metadata ? error.metadata.get(REASON_TRAILER) : [];
    const reason = trailers.length > 0 ? String(trailers[0]) : '';
    return new FetchpoolError(error.code ?? status.UNKNOWN, reason, error.details ?? error.message ?? '');
  }

  /** From a FetchStream answer whose `error` is set. */
  static fromFetchError(error: FetchError__Output): FetchpoolError {
    return new FetchpoolError(error.code, error.reason, error.message);
  }

  static cancelled(): FetchpoolError {
    return new FetchpoolError(status.CANCELLED, '', 'cancelled by the caller');
  }
}

/** Any rejection of a grpc-js call, as a FetchpoolError. */
export function toFetchpoolError(error: unknown): FetchpoolError {
  if (error instanceof FetchpoolError) return error;
  if (error !== null && typeof error === 'object' && 'code' in error) {
    return FetchpoolError.fromServiceError(error as ServiceError);
  }
  return new FetchpoolError(status.UNKNOWN, '', String(error));
}
