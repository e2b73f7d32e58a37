/* cmd_webhook.c - `skiff webhook` (placeholder until injection lands). */
#include <stdio.h>

#include "commands.h"

int cmd_webhook(int argc, char **argv, char **envp)
{
	(void)argc; (void)argv; (void)envp;
	fprintf(stderr, "skiff webhook: not built yet\n");
	return 1;
}
