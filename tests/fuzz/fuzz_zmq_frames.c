/* fuzz_zmq_frames.c - a ZMQ notification as the node (or anyone who can
 * reach the subscriber) sends it: frames checked by rpc_zmq_check_frames,
 * then a rawtx body parsed as the follower does (btc_tx_parse).
 *
 * Input: byte 0 topic (even hashblock, odd rawtx), byte 1 frame count
 * (% 5), then frame 0 and frame 2 each as a 1-byte length + bytes, and the
 * rest is frame 1 (the body).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../bitcoin/block.h"
#include "../../rpc/zmqsub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t *take(const uint8_t **p, size_t *left, size_t *len)
{
	const uint8_t *s;

	*len = 0;
	if (*left == 0)
		return *p;
	*len = **p;
	(*p)++;
	(*left)--;
	if (*len > *left)
		*len = *left;
	s = *p;
	*p += *len;
	*left -= *len;
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *fr[3], *p;
	size_t lens[3], left;
	enum rpc_zmq_topic t;
	uint32_t seq = 0;
	int n;

	if (size < 2)
		return 0;
	t = data[0] % 2 ? RPC_ZMQ_RAWTX : RPC_ZMQ_HASHBLOCK;
	n = data[1] % 5;
	p = data + 2;
	left = size - 2;
	fr[0] = take(&p, &left, &lens[0]);
	fr[2] = take(&p, &left, &lens[2]);
	fr[1] = p;
	lens[1] = left;
	if (rpc_zmq_check_frames(t, n, fr, lens, &seq) != SD_OK)
		return 0;
	if (n != 3 || lens[2] != 4)
		abort();
	if (t == RPC_ZMQ_HASHBLOCK) {
		if (lens[1] != 32)
			abort();
	} else {
		struct btc_block *b = NULL;

		if (lens[1] > RPC_ZMQ_RAWTX_MAX)
			abort();
		if (btc_tx_parse(fr[1], lens[1], &b) == SD_OK) {
			if (b->n_tx != 1)
				abort();
			btc_block_free(b);
		}
	}
	return 0;
}
