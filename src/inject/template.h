/* template.h - the parts of Istio 1.13's default sidecar template. */
#ifndef SKIFF_INJECT_TEMPLATE_H
#define SKIFF_INJECT_TEMPLATE_H

#include <stdbool.h>

#include <jansson.h>

#include "inject/inject_internal.h"

struct template_ctx {
	const struct inject_config *cfg;
	const json_t *annotations;       /* pod annotations (may be NULL) */
	const json_t *containers;        /* the pod's containers before injection */
	const struct inject_owner *owner;
	const char *mode;                /* effective interception mode */
	const char *proxy_config_json;   /* PROXY_CONFIG, without the trailing newline */
	const json_t *proxy_metadata;    /* effective proxyMetadata (object, sorted) */
	bool hold_application;
	int concurrency;                 /* proxy config concurrency, -1 unset */
};

json_t *template_proxy_container(const struct template_ctx *t);
json_t *template_init_container(const struct template_ctx *t);
json_t *template_volumes(const struct inject_config *cfg);
char *template_proxy_image(const struct inject_config *cfg, const json_t *annotations);

#endif
