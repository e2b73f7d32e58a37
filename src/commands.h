/* commands.h - the entry point of every skiff command.
 *
 * Each command takes its own argv (argv[0] is the command name) and the
 * process environment, and returns the process exit status. Commands own
 * their flag parsing and --help; main.c only dispatches. */
#ifndef SKIFF_COMMANDS_H
#define SKIFF_COMMANDS_H

int cmd_iptables(int argc, char **argv, char **envp);       /* src/capture/cmd.c */
int cmd_clean_iptables(int argc, char **argv, char **envp); /* src/capture/cmd.c */
int cmd_agent(int argc, char **argv, char **envp);          /* src/agent/cmd.c */
int cmd_inject(int argc, char **argv, char **envp);         /* src/inject/cmd.c */
int cmd_webhook(int argc, char **argv, char **envp);        /* src/inject/cmd_webhook.c */

#endif
