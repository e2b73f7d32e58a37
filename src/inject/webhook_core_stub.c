/* webhook_core_stub.c - TEMPORARY stand-in for the injection core until it
 * lands on main (then this file goes). */
#include <stdlib.h>
#include <string.h>

#include "inject/inject.h"

struct inject_config { int unused; };

int inject_config_new(const char *mesh_config_path, const char *values_path,
		      char *const *envp, struct inject_config **out, struct skiff_err *e)
{
	(void)mesh_config_path; (void)values_path; (void)envp; (void)e;
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -12;
}

void inject_config_free(struct inject_config *cfg) { free(cfg); }

int inject_pod_json(const struct inject_config *cfg, const char *pod_json, size_t len,
		    const char *ns, char **out_json, char **skip_reason,
		    struct strbuf *warnings, struct skiff_err *e)
{
	(void)cfg; (void)pod_json; (void)len; (void)ns; (void)warnings;
	*out_json = NULL;
	*skip_reason = NULL;
	return err_set(e, SKIFF_EINVAL, "injection core not built yet");
}
