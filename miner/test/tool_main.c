/* tool_main.c - build/tools/miner_main: the miner's command line on its
 * own (`miner_main ARGS` == `signetd miner ARGS`), for tests and benches. */
#include "miner/miner.h"

int main(int argc, char **argv)
{
	return miner_main(argc, argv);
}
