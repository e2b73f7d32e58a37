/* cmd.c - `skiff inject` (placeholder until injection lands). */
#include <stdio.h>

#include "commands.h"

int cmd_inject(int argc, char **argv, char **envp)
{
	(void)argc; (void)argv; (void)envp;
	fprintf(stderr, "skiff inject: not built yet\n");
	return 1;
}
