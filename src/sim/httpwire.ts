/**
 * HTTP/1.1 as the simulated card speaks it (src/sim/http.ts): responses framed like an AP9617's (one chunk,
 * or a Content-Length body) and the parse of one request from a connection's buffer, bounded (8 KiB head,
 * 4 KiB body; chunked requests are refused). Pure.
 *
 * @module
 */

const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");
const MAX_HEAD_BYTES = 8 * 1024;
const MAX_BODY_BYTES = 4 * 1024;

/** Reason phrases of the refusals {@link parseRequest} gives. */
export const HTTP_REASONS: Record<number, string> = {
  400: "Bad Request",
  413: "Content Too Large",
  431: "Request Header Fields Too Large",
  501: "Not Implemented",
};

/** An HTTP/1.1 response with the body (ASCII) sent as one chunk, as the AP9617 answers. */
export function chunkedResponse(status: number, reason: string, body: string): Uint8Array {
  return encoder.encode(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/html\r\nCache-Control: no-cache\r\n` +
      `Transfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
  );
}

/** An HTTP/1.1 response with a Content-Length body. */
export function plainResponse(status: number, reason: string, body: string, close = false): Uint8Array {
  return encoder.encode(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/html\r\nContent-Length: ${body.length}\r\n` +
      `${close ? "Connection: close\r\n" : ""}\r\n${body}`,
  );
}

/** A parsed request. */
export interface HttpRequest {
  /** Method, as sent. */
  readonly method: string;
  /** Path without the query. */
  readonly path: string;
  /** Header fields, names in lower case. */
  readonly headers: ReadonlyMap<string, string>;
  /** The body (Content-Length bytes). */
  readonly body: Uint8Array;
  /** Bytes the request took in the buffer. */
  readonly size: number;
}

/**
 * Parses the first request in `data`: the request, undefined while
 * incomplete, or an error (status + sentence) for a request to refuse.
 */
export function parseRequest(data: Uint8Array): HttpRequest | undefined | { status: number; error: string } {
  const text = latin1.decode(data.subarray(0, MAX_HEAD_BYTES + 4));
  const start = text.slice(0, 17);
  if (!/^[A-Z]{0,16}$/.test(start) && !/^[A-Z]{1,16} /.test(start)) {
    return { status: 400, error: "not an HTTP request" }; // e.g. a TLS handshake sent to the plain port
  }
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) {
    return data.length > MAX_HEAD_BYTES ? { status: 431, error: "request head too large" } : undefined;
  }
  const [requestLine, ...fields] = text.slice(0, end).split("\r\n");
  const match = /^([A-Z]+) (\S+) HTTP\/1\.[01]$/.exec(requestLine);
  if (!match) return { status: 400, error: "bad request line" };
  const headers = new Map<string, string>();
  for (const field of fields) {
    const colon = field.indexOf(":");
    if (colon <= 0) return { status: 400, error: "bad header field" };
    headers.set(field.slice(0, colon).trim().toLowerCase(), field.slice(colon + 1).trim());
  }
  if (headers.has("transfer-encoding")) return { status: 501, error: "chunked requests are not supported" };
  const lengthText = headers.get("content-length") ?? "0";
  if (!/^\d{1,9}$/.test(lengthText)) return { status: 400, error: "bad Content-Length" };
  const length = Number(lengthText);
  if (length > MAX_BODY_BYTES) return { status: 413, error: "request body too large" };
  const bodyStart = end + 4;
  if (data.length < bodyStart + length) return undefined;
  return {
    method: match[1],
    path: match[2].split("?")[0],
    headers,
    body: data.subarray(bodyStart, bodyStart + length),
    size: bodyStart + length,
  };
}
