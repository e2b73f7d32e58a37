/* cmd.c - `skiff iptables` and `skiff clean-iptables` (placeholder until the
 * capture subsystem lands; see issue "Traffic capture"). */
#include <stdio.h>

#include "commands.h"

int cmd_iptables(int argc, char **argv, char **envp)
{
	(void)argc; (void)argv; (void)envp;
	fprintf(stderr, "skiff iptables: not built yet\n");
	return 1;
}

int cmd_clean_iptables(int argc, char **argv, char **envp)
{
	(void)argc; (void)argv; (void)envp;
	fprintf(stderr, "skiff clean-iptables: not built yet\n");
	return 1;
}
