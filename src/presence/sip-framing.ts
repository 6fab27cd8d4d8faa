/**
 * SipStreamFramer cuts the byte stream of a SIP-over-TCP or -TLS connection into messages (RFC 3261 section 18.3:
 * the header block ends at the first empty line, and Content-Length, mandatory on stream transports, counts the
 * body's bytes; a missing one is read as 0). CRLFs between messages are RFC 5626 section 3.5.1 keep-alives: a
 * double CRLF is a ping, which the owner answers with one CRLF. Pure: bytes in, message strings out.
 *
 * Invariant: after push() returns, the buffer holds no complete message. A stream that cannot be framed (an
 * unreadable Content-Length, a message larger than maxBytes) cannot be resynchronised: push() throws
 * SipFramingError and the owner must close the connection.
 */

/** MAX_SIP_MESSAGE_BYTES bounds one message, headers and body (a merged PIDF of many tuples stays far below). */
export const MAX_SIP_MESSAGE_BYTES = 1 << 20;

const CRLF = 0x0d0a;
const HEADER_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /^(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*$/im;

/** SipFramingError says the stream is not SIP as RFC 3261 frames it; the connection must be closed. */
export class SipFramingError extends Error {
  override readonly name = 'SipFramingError';
}

/** SipStreamFramer holds the bytes received but not yet handed on. */
export class SipStreamFramer {
  private buf: Buffer = Buffer.alloc(0);

  /**
   * onMessage receives each complete message, decoded as UTF-8; onPing is called for each double-CRLF keep-alive.
   */
  constructor(
    private readonly onMessage: (message: string) => void,
    private readonly onPing: () => void,
    private readonly maxBytes = MAX_SIP_MESSAGE_BYTES,
  ) {}

  /** buffered is how many bytes wait for the rest of their message. */
  get buffered(): number {
    return this.buf.length;
  }

  /** push appends received bytes and hands on every message they complete; throws SipFramingError. */
  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      this.skipKeepAlives();
      if (this.buf.length === 0) return;
      const end = this.buf.indexOf(HEADER_END);
      if (end < 0) {
        if (this.buf.length > this.maxBytes) throw new SipFramingError(`no end of headers within ${this.maxBytes} bytes`);
        return;
      }
      const head = this.buf.toString('latin1', 0, end);
      const m = CONTENT_LENGTH.exec(head);
      const length = m ? Number(m[1]) : 0;
      if (!Number.isSafeInteger(length) || length < 0 || (m && !/^\d+$/.test(m[1]!))) {
        throw new SipFramingError(`unreadable Content-Length ${JSON.stringify(m?.[1])}`);
      }
      const total = end + HEADER_END.length + length;
      if (total > this.maxBytes) throw new SipFramingError(`message of ${total} bytes exceeds ${this.maxBytes}`);
      if (this.buf.length < total) return;
      const message = this.buf.toString('utf8', 0, total);
      this.buf = this.buf.subarray(total);
      this.onMessage(message);
    }
  }

  /** skipKeepAlives drops leading CRLFs; two or more in a row are a ping. */
  private skipKeepAlives(): void {
    let n = 0;
    while (n + 1 < this.buf.length && this.buf.readUInt16BE(n) === CRLF) n += 2;
    if (n === 0) return;
    this.buf = this.buf.subarray(n);
    if (n >= 4) this.onPing();
  }
}
