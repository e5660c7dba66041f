/* bench_grind.c - the native grinder's speed: MH/s of SHA-256d over an
 * 80-byte header, per thread and with one thread per core (midstate +
 * OpenSSL SHA256_Transform, SHA-NI when present), next to a plain
 * SHA256(SHA256(header)) loop for comparison.
 * Usage: bench_grind [seconds per measurement, default 2] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "miner/miner.h"
#include "common/util.h"

static uint8_t header[80];
static double secs = 2.0;

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* MH per wall second; *per_cpu = MH per CPU second of this thread (what a
 * thread does when it has a core to itself, on a shared machine). */
static double run_range_cpu(double *per_cpu)
{
	uint64_t t0 = sd_mono_ns(), done = 0;
	uint32_t first = 0, nonce;
	bool found;
	double c0 = cpu_s();

	while ((double)(sd_mono_ns() - t0) / 1e9 < secs) {
		done += miner_grind_range(header, first, 1u << 20, &found, &nonce);
		first += 1u << 20;
	}
	if (per_cpu)
		*per_cpu = (double)done / (cpu_s() - c0) / 1e6;
	return (double)done / ((double)(sd_mono_ns() - t0) / 1e9) / 1e6;
}

static double run_range(void)
{
	return run_range_cpu(NULL);
}

static void *thr(void *arg)
{
	*(double *)arg = run_range();
	return NULL;
}

int main(int argc, char **argv)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	pthread_t th[64];
	double rate[64], total = 0, naive;
	uint64_t t0, n = 0;
	uint8_t h[32];

	if (argc > 1)
		secs = atof(argv[1]);
	if (ncpu < 1 || ncpu > 64)
		ncpu = 1;
	header[0] = 0x04;
	sd_le32_put(header + 72, 0x03000001); /* unreachable target */

	t0 = sd_mono_ns();
	while ((double)(sd_mono_ns() - t0) / 1e9 < secs / 2) {
		for (int i = 0; i < 4096; i++) {
			sd_le32_put(header + 76, (uint32_t)n++);
			btc_sha256d(h, header, 80);
		}
	}
	naive = (double)n / ((double)(sd_mono_ns() - t0) / 1e9) / 1e6;

	{
		double per_cpu;
		rate[0] = run_range_cpu(&per_cpu);
		printf("grind 1 thread:  %.2f MH/s wall, %.2f MH per CPU-second "
		       "(midstate + SHA256_Transform)\n", rate[0], per_cpu);
	}
	printf("naive 1 thread:  %.2f MH/s (SHA256(SHA256(80 bytes)))\n", naive);
	for (long i = 0; i < ncpu; i++)
		pthread_create(&th[i], NULL, thr, &rate[i]);
	for (long i = 0; i < ncpu; i++) {
		pthread_join(th[i], NULL);
		total += rate[i];
	}
	printf("grind %ld threads: %.2f MH/s total, %.2f MH/s per thread\n",
	       ncpu, total, total / (double)ncpu);
	printf("expected wall per block at 1e0377ae (4.84 MH): %.2f s\n",
	       4.84 / total);
	return 0;
}
