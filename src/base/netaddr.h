/* netaddr.h - IP addresses and CIDR ranges as Istio (Go's net package) reads
 * and prints them.
 *
 * Parsing is strict: IPv4 is a dotted quad without leading zeros, IPv6 is the
 * standard text form (embedded dotted quad allowed, no zone), a CIDR is
 * ADDRESS/PREFIX with a decimal prefix. Printing gives the canonical network:
 * host bits cleared, IPv6 compressed and lower-case (RFC 5952, as Go prints
 * it), IPv4-mapped IPv6 printed as IPv4. */
#ifndef SKIFF_BASE_NETADDR_H
#define SKIFF_BASE_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NETADDR_STR_MAX 64 /* enough for any "ADDRESS/PREFIX" we print */

struct netaddr_cidr {
	int family;          /* AF_INET or AF_INET6 (IPv4-mapped counts as AF_INET) */
	uint8_t addr[16];    /* network address, host bits cleared; IPv4 in addr[0..3] */
	unsigned prefix;     /* 0-32 or 0-128 */
	bool loopback;       /* the address as written was 127.0.0.0/8 or ::1 */
};

/* A strict dotted-quad IPv4 address. Returns 0 or -EINVAL. */
int netaddr_parse_ip4(const char *s, uint8_t out[4]);

/* An IPv4 or IPv6 address; *family gets AF_INET for IPv4 and IPv4-mapped
 * IPv6 (out[0..3] then holds the IPv4 address). Returns 0 or -EINVAL. */
int netaddr_parse_ip(const char *s, int *family, uint8_t out[16]);

/* "ADDRESS/PREFIX". Returns 0, or -EINVAL (syntax) / -ERANGE (prefix). */
int netaddr_parse_cidr(const char *s, struct netaddr_cidr *out);

/* Canonical text of C into BUF (NETADDR_STR_MAX bytes): "10.0.0.0/8". */
void netaddr_cidr_format(const struct netaddr_cidr *c, char *buf, size_t size);

/* An IPv6 address in Go's compressed lower-case form (no dotted quad). */
void netaddr_ip6_format(const uint8_t a[16], char *buf, size_t size);

#endif
