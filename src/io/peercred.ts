/** Who is on the other end of a Unix stream socket: SO_PEERCRED through FFI (Linux), null elsewhere. */
import type { Socket } from 'node:net';
import { libc } from './ffi.js';

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;

type GetSockOpt = (fd: number, level: number, name: number, val: Uint8Array, len: number[]) => number;
let getsockopt: GetSockOpt | null | undefined;

function load(): GetSockOpt | null {
  if (getsockopt !== undefined) return getsockopt;
  const c = libc();
  getsockopt =
    c === null
      ? null
      : c.func<GetSockOpt>(
          'int getsockopt(int fd, int level, int name, _Out_ uint8_t *val, _Inout_ uint32_t *len)',
        );
  return getsockopt;
}

/** The file descriptor of a connected net.Socket (libuv pipe handle), or null. */
function fdOf(sock: Socket): number | null {
  const h = (sock as unknown as { _handle?: { fd?: unknown } })._handle;
  return typeof h?.fd === 'number' && h.fd >= 0 ? h.fd : null;
}

/** The credentials of the process that connected `sock` (struct ucred), or null when unknown. */
export function peerCredentials(sock: Socket): PeerCredentials | null {
  const f = load();
  const fd = fdOf(sock);
  if (f === null || fd === null) return null;
  const buf = new Uint8Array(12);
  const len = [12];
  if (f(fd, SOL_SOCKET, SO_PEERCRED, buf, len) !== 0 || len[0] !== 12) return null;
  const v = new DataView(buf.buffer);
  return { pid: v.getInt32(0, true), uid: v.getUint32(4, true), gid: v.getUint32(8, true) };
}
