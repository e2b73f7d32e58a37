/* cmd.c - `skiff agent` (placeholder until the agent lands). */
#include <stdio.h>

#include "commands.h"

int cmd_agent(int argc, char **argv, char **envp)
{
	(void)argc; (void)argv; (void)envp;
	fprintf(stderr, "skiff agent: not built yet\n");
	return 1;
}
