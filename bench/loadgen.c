/*
 * ntpkit server benchmark load generator: paced NTPv4 client requests over UDP with sendmmsg and
 * recvmmsg, from NSRC source addresses (SRCPREFIX.1 .. SRCPREFIX.NSRC, e.g. 127.0.1.x on loopback).
 * Compiled by bench/server.ts with gcc at bench time. Bounded: RATE * SECONDS requests at most.
 *
 *   loadgen HOST PORT NSRC SRCPREFIX RATE SECONDS [RCVBUF [CYCLE [REQFILE]]]
 *
 * CYCLE > 0 (loopback only): one socket on the wildcard address instead, each request from the
 * next of CYCLE distinct addresses 127.1.0.0, 127.1.0.1, ... (set per datagram with IP_PKTINFO;
 * loopback owns the whole 127.0.0.0/8, so every reply comes back to the socket): the server sees
 * a new client per request until CYCLE requests have been sent (NSRC and SRCPREFIX are ignored).
 *
 * With REQFILE (CYCLE 0) the requests are not built here: the file holds up to 4096 ready requests
 * (each a 2-byte big-endian length, then the bytes; e.g. NTS-protected ones, which bench/server.ts
 * --nts builds after one NTS-KE), sent in turn unchanged (their authenticator covers the transmit
 * timestamp, so the sequence number is not written and no response times are measured).
 *
 * Prints one line of JSON: {"sent":N,"received":N,"kod":N,"seconds":S,"sendSeconds":S,"rcvbuf":B,
 * "p50Us":X,"p99Us":Y}. Replies are counted until 300 ms after the last request. Response times:
 * from the sendmmsg that sent a request to the recvmmsg that read its reply (matched by the sequence
 * number in the transmit timestamp, which the reply echoes as its origin), in 10 µs bins; the
 * generator polls every 50 µs when idle, so the figures include up to that much of its own delay.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32
#define MAXSRC 256
#define RING (1u << 20)
#define BINS 100000 /* 10 µs each: up to 1 s */
#define MAXREQ 4096
#define REQLEN 1024

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: %s HOST PORT NSRC SRCPREFIX RATE SECONDS [RCVBUF]\n", argv[0]);
    return 2;
  }
  const char *host = argv[1];
  int port = atoi(argv[2]);
  int nsrc = atoi(argv[3]);
  const char *prefix = argv[4];
  double rate = atof(argv[5]);
  double seconds = atof(argv[6]);
  int rcvbuf = argc > 7 ? atoi(argv[7]) : 4 * 1024 * 1024;
  long cycle = argc > 8 ? atol(argv[8]) : 0;
  if (cycle > 0) nsrc = 1;
  static unsigned char tmpl[MAXREQ][REQLEN];
  static size_t tlen[MAXREQ];
  int ntmpl = 0;
  if (argc > 9) {
    FILE *f = fopen(argv[9], "rb");
    if (f == NULL) { perror("loadgen: REQFILE"); return 2; }
    unsigned char h[2];
    while (ntmpl < MAXREQ && fread(h, 1, 2, f) == 2) {
      size_t l = ((size_t)h[0] << 8) | h[1];
      if (l < 48 || l > REQLEN || fread(tmpl[ntmpl], 1, l, f) != l) { fprintf(stderr, "loadgen: bad REQFILE\n"); return 2; }
      tlen[ntmpl++] = l;
    }
    fclose(f);
    if (ntmpl == 0) { fprintf(stderr, "loadgen: empty REQFILE\n"); return 2; }
  }
  if (nsrc < 1 || nsrc > MAXSRC || rate <= 0 || seconds <= 0 || seconds > 60 || cycle < 0 || cycle > (1L << 24) - 65536 || (cycle > 0 && ntmpl > 0)) {
    fprintf(stderr, "loadgen: bad arguments\n");
    return 2;
  }
  struct sockaddr_in dst = {0};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(port);
  if (inet_pton(AF_INET, host, &dst.sin_addr) != 1) {
    fprintf(stderr, "loadgen: bad host\n");
    return 2;
  }
  int ep = epoll_create1(0);
  int fds[MAXSRC];
  for (int i = 0; i < nsrc; i++) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (fd < 0) { perror("socket"); return 1; }
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in src = {0};
    src.sin_family = AF_INET;
    char a[64];
    snprintf(a, sizeof a, "%s.%d", prefix, i + 1);
    if (cycle > 0) src.sin_addr.s_addr = htonl(INADDR_ANY);
    else if (inet_pton(AF_INET, a, &src.sin_addr) != 1) { fprintf(stderr, "loadgen: bad source %s\n", a); return 2; }
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) { perror("bind"); return 1; }
    /* Cycling sources: not connected (each datagram names the server and its own source). */
    if (cycle == 0 && connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0) { perror("connect"); return 1; }
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    fds[i] = fd;
  }
  int actual = 0;
  socklen_t al = sizeof actual;
  getsockopt(fds[0], SOL_SOCKET, SO_RCVBUF, &actual, &al);

  static unsigned char req[BATCH][48];
  struct mmsghdr smsg[BATCH];
  struct iovec siov[BATCH];
  static union { char buf[CMSG_SPACE(sizeof(struct in_pktinfo))]; struct cmsghdr align; } ctrl[BATCH];
  memset(smsg, 0, sizeof smsg);
  for (int i = 0; i < BATCH; i++) {
    if (cycle > 0) {
      smsg[i].msg_hdr.msg_name = &dst;
      smsg[i].msg_hdr.msg_namelen = sizeof dst;
      smsg[i].msg_hdr.msg_control = ctrl[i].buf;
      smsg[i].msg_hdr.msg_controllen = sizeof ctrl[i].buf;
      struct cmsghdr *c = CMSG_FIRSTHDR(&smsg[i].msg_hdr);
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
    }
    memset(req[i], 0, 48);
    req[i][0] = (4 << 3) | 3; /* LI 0, VN 4, mode 3 */
    req[i][2] = 6;
    siov[i].iov_base = req[i];
    siov[i].iov_len = 48;
    smsg[i].msg_hdr.msg_iov = &siov[i];
    smsg[i].msg_hdr.msg_iovlen = 1;
  }
  static unsigned char rbuf[64][REQLEN];
  struct mmsghdr rmsg[64];
  struct iovec riov[64];
  memset(rmsg, 0, sizeof rmsg);
  for (int i = 0; i < 64; i++) {
    riov[i].iov_base = rbuf[i];
    riov[i].iov_len = sizeof rbuf[i];
    rmsg[i].msg_hdr.msg_iov = &riov[i];
    rmsg[i].msg_hdr.msg_iovlen = 1;
  }

  static double sent_at[RING];
  static uint64_t bins[BINS + 1];
  const uint64_t total = (uint64_t)(rate * seconds);
  uint64_t sent = 0, received = 0, kod = 0, seq = 0;
  int next = 0;
  const double t0 = now_s();
  double end_send = t0 + seconds + 1.0; /* hard stop even if the kernel pushes back */
  double stop_at = 0, send_done = 0;
  struct epoll_event evs[MAXSRC];
  for (;;) {
    double t = now_s();
    if (sent < total && t < end_send) {
      uint64_t due = (uint64_t)((t - t0) * rate) + 1;
      if (due > total) due = total;
      while (sent < due) {
        int n = (int)(due - sent < BATCH ? due - sent : BATCH);
        for (int i = 0; i < n; i++) {
          uint64_t s = seq++;
          if (ntmpl > 0) {
            siov[i].iov_base = tmpl[s % (uint64_t)ntmpl];
            siov[i].iov_len = tlen[s % (uint64_t)ntmpl];
            continue;
          }
          req[i][40] = 0x6e; req[i][41] = 0x6b;
          req[i][42] = (unsigned char)(s >> 40); req[i][43] = (unsigned char)(s >> 32);
          req[i][44] = (unsigned char)(s >> 24); req[i][45] = (unsigned char)(s >> 16);
          req[i][46] = (unsigned char)(s >> 8); req[i][47] = (unsigned char)s;
          if (cycle > 0) {
            struct in_pktinfo pi = {0};
            pi.ipi_spec_dst.s_addr = htonl(0x7f010000u + (uint32_t)(s % (uint64_t)cycle));
            memcpy(CMSG_DATA(CMSG_FIRSTHDR(&smsg[i].msg_hdr)), &pi, sizeof pi);
          }
        }
        int r = sendmmsg(fds[next], smsg, n, MSG_DONTWAIT);
        next = (next + 1) % nsrc;
        if (r <= 0) {
          seq -= (uint64_t)n;
          break; /* send buffer full: count only what left, retry next loop */
        }
        double ts = now_s();
        for (int i = 0; i < r; i++) sent_at[(seq - (uint64_t)n + (uint64_t)i) & (RING - 1)] = ts;
        seq -= (uint64_t)(n - r);
        sent += (uint64_t)r;
      }
    } else if (stop_at == 0) {
      send_done = t;
      stop_at = t + 0.3;
    }
    if (stop_at != 0 && t >= stop_at) break;
    int ne = epoll_wait(ep, evs, MAXSRC, 0);
    for (int e = 0; e < ne; e++) {
      int fd = fds[evs[e].data.u32];
      for (;;) {
        int r = recvmmsg(fd, rmsg, 64, MSG_DONTWAIT, NULL);
        if (r <= 0) break;
        for (int i = 0; i < r; i++) {
          if (rmsg[i].msg_len >= 48) {
            received++;
            if (rbuf[i][1] == 0) kod++;
            const unsigned char *o = rbuf[i] + 24; /* origin = our transmit timestamp */
            if (o[0] == 0x6e && o[1] == 0x6b) {
              uint64_t s = ((uint64_t)o[2] << 40) | ((uint64_t)o[3] << 32) | ((uint64_t)o[4] << 24) |
                           ((uint64_t)o[5] << 16) | ((uint64_t)o[6] << 8) | (uint64_t)o[7];
              if (s < seq && seq - s < RING) {
                double us = (now_s() - sent_at[s & (RING - 1)]) * 1e6;
                uint64_t b = us < 0 ? 0 : (uint64_t)(us / 10);
                bins[b > BINS ? BINS : b]++;
              }
            }
          }
        }
      }
    }
    if (ne == 0) {
      /* Nothing to read: yield the core briefly instead of spinning (replies wait in the 4 MiB
         buffers; sends catch up in one batch), so the generator does not push other work onto the
         server's core. */
      struct timespec ts = {0, sent >= total ? 200000 : 50000};
      nanosleep(&ts, NULL);
    }
  }
  double el = now_s() - t0;
  uint64_t timed = 0, acc = 0;
  for (int b = 0; b <= BINS; b++) timed += bins[b];
  double p50 = -1, p99 = -1;
  for (int b = 0; b <= BINS && timed > 0; b++) {
    acc += bins[b];
    if (p50 < 0 && acc * 2 >= timed) p50 = (b + 1) * 10.0;
    if (p99 < 0 && acc * 100 >= timed * 99) p99 = (b + 1) * 10.0;
  }
  printf("{\"sent\":%llu,\"received\":%llu,\"kod\":%llu,\"seconds\":%.3f,\"sendSeconds\":%.3f,\"rcvbuf\":%d,"
         "\"p50Us\":%.0f,\"p99Us\":%.0f}\n",
         (unsigned long long)sent, (unsigned long long)received, (unsigned long long)kod, el, send_done - t0, actual,
         p50, p99);
  return 0;
}
