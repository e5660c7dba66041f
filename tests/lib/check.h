/* check.h - the unit tests' assertion macros.  CHECK aborts with file:line
 * so a failing assertion fails the CTest case. */
#ifndef SIGNETD_TESTS_LIB_CHECK_H
#define SIGNETD_TESTS_LIB_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                         \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
				__LINE__, #cond);                           \
			abort();                                            \
		}                                                           \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                  \
	do {                                                                \
		long long a_ = (long long)(a), b_ = (long long)(b);         \
		if (a_ != b_) {                                             \
			fprintf(stderr, "%s:%d: CHECK failed: %s == %s "    \
				"(%lld != %lld)\n", __FILE__, __LINE__, #a, #b, \
				a_, b_);                                    \
			abort();                                            \
		}                                                           \
	} while (0)

#define CHECK_STREQ(a, b)                                                   \
	do {                                                                \
		const char *a_ = (a), *b_ = (b);                            \
		if (strcmp(a_, b_) != 0) {                                  \
			fprintf(stderr, "%s:%d: CHECK failed: %s == %s "    \
				"(\"%s\" != \"%s\")\n", __FILE__, __LINE__, #a, \
				#b, a_, b_);                                \
			abort();                                            \
		}                                                           \
	} while (0)

/* Path of the test data (tests/data: BIP352 vectors, regtest-a, signet
 * blocks), from $SIGNETD_TESTDATA_DIR or the compile-time default. */
static inline const char *check_testdata_dir(void)
{
	const char *e = getenv("SIGNETD_TESTDATA_DIR");
#ifdef SIGNETD_TESTDATA_DIR
	return e ? e : SIGNETD_TESTDATA_DIR;
#else
	return e ? e : "tests/data";
#endif
}

#endif
