/**
 * The engine's NTS server state: the cookie jar the host's NTS-KE server shares with it and the
 * counters of the NTS-protected requests that src/serve/answer.ts answers (RFC 8915 section 5.7).
 */
import type { CookieJar } from '../nts/cookie.js';
import type { NtsServerStats } from '../serve/answer.js';

export class NtsServer {
  /** The cookie jar shared with the host's NTS-KE server (null = no NTS service). */
  jar: CookieJar | null = null;
  /** NTS server statistics. */
  readonly stats: NtsServerStats = { requests: 0, responses: 0, naks: 0, rejected: 0 };

  /** The statistics for the system snapshot's `extra` (none without NTS service). */
  extra(): Record<string, number> {
    if (this.jar === null) return {};
    return {
      ntsServerRequests: this.stats.requests,
      ntsServerResponses: this.stats.responses,
      ntsServerNaks: this.stats.naks,
      ntsServerRejected: this.stats.rejected,
    };
  }
}
