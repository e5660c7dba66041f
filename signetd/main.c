/* main.c - signetd entry point (placeholder until the daemon lands). */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("signetd %s\n", SIGNETD_VERSION);
		return 0;
	}
	fprintf(stderr, "signetd: not yet implemented\n");
	return 1;
}
