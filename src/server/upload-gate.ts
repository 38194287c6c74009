/**
 * Admission for binary uploads, decided before a body is read: Fastify buffers an upload whole
 * (up to the 32 MB body limit) before its handler runs, so without a gate one device with a valid
 * token could hold a hundred 32 MB bodies in memory at once. Each device may have a few uploads in
 * flight, and all uploads together may declare at most a byte budget; past either, the request is
 * refused at once (429 with Retry-After) and its body is never read. Pure bookkeeping, no I/O.
 */

export interface UploadGateOptions {
  /** Uploads one device may have in flight at once. */
  perDevice: number;
  /** Bytes (declared Content-Length, or the body limit when none is declared) in flight in all. */
  totalBytes: number;
}

export const DEFAULT_UPLOAD_GATE: Readonly<UploadGateOptions> = Object.freeze({
  perDevice: 4,
  totalBytes: 256 * 1024 * 1024,
});

/** Why an upload was not admitted (for the error message). */
export type GateRefusal = 'device' | 'total';

export class UploadGate {
  private readonly byDevice = new Map<string, number>();
  private bytes = 0;

  constructor(private readonly options: UploadGateOptions = DEFAULT_UPLOAD_GATE) {}

  /**
   * Admits an upload of `bytes` from `deviceId` and returns its release function (call it exactly
   * once, when the request ends, however it ends), or says why it is refused.
   *
   * @example
   * const ticket = gate.admit(device.id, Number(req.headers['content-length']));
   * if (typeof ticket === 'string') throw new FedexError('RATE_LIMITED', ...);
   * req.raw.once('close', ticket);
   */
  admit(deviceId: string, bytes: number): (() => void) | GateRefusal {
    const open = this.byDevice.get(deviceId) ?? 0;
    if (open >= this.options.perDevice) return 'device';
    if (this.bytes + bytes > this.options.totalBytes && this.bytes > 0) return 'total';
    this.byDevice.set(deviceId, open + 1);
    this.bytes += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.bytes -= bytes;
      const left = (this.byDevice.get(deviceId) ?? 1) - 1;
      if (left <= 0) this.byDevice.delete(deviceId);
      else this.byDevice.set(deviceId, left);
    };
  }

  /** Uploads and declared bytes in flight now. */
  inFlight(): { uploads: number; bytes: number } {
    let uploads = 0;
    for (const n of this.byDevice.values()) uploads += n;
    return { uploads, bytes: this.bytes };
  }
}
