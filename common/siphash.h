/* siphash.h - SipHash-2-4 (Aumasson & Bernstein), the keyed hash of BIP158
 * GCS filters; also keys the HTTP side's small hash tables.  Pure: no
 * allocation, no state.
 */
#ifndef SIGNETD_COMMON_SIPHASH_H
#define SIGNETD_COMMON_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/* SipHash-2-4 of msg under the key (k0, k1). */
uint64_t sd_siphash24(uint64_t k0, uint64_t k1, const uint8_t *msg,
		      size_t len);

#endif
