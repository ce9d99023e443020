import type { FetchRequest } from './generated/fetchpool/v1/FetchRequest';

/**
 * The request as sent: a string body is UTF-8 (protobufjs would read a string
 * for a bytes field as base64).
 */
export function wireRequest(request: FetchRequest): FetchRequest {
  return typeof request.body === 'string' ? { ...request, body: Buffer.from(request.body, 'utf8') } : request;
}
