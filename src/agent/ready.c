/* ready.c - /healthz/ready (see ready.h; spec probes.md section 9).
 *
 * The remembered results ("configuration received", "Envoy was LIVE once",
 * "bootstrap loaded") are atomics: two concurrent first checks may both ask
 * Envoy, which is harmless, and nobody waits on a lock while another request
 * talks to a slow admin port. Only the "was the last answer a success" state
 * behind the log lines and the loaded bootstrap paths sit under a mutex. */
#include "agent/ready.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/http_get.h"
#include "agent/metrics.h"
#include "base/cleanup.h"
#include "base/env.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/parse.h"
#include "probe/probe.h"

#define READY_CONFIG_TIMEOUT_MS 1000
#define READY_LIVE_TIMEOUT_MS 3000
#define READY_MAX_STATS (1 << 20)
#define READY_MAX_BOOTSTRAP (1 << 20)
#define READY_WHY 512

struct agent_ready {
	bool envoy;             /* false in no-Envoy mode (9.3) */
	uint16_t admin_port;
	bool ipv6;
	char *bootstrap_path;   /* NULL: no gRPC bootstrap check */
	bool dns_capture;
	struct agent_metrics *metrics;
	int64_t start_ms;

	atomic_bool config_received;
	atomic_bool envoy_live;
	atomic_bool bootstrap_loaded;

	pthread_mutex_t lock;
	bool last_ok;           /* the previous answer was 200 */
	char *cert_files[3];    /* file-watcher provider paths, set once loaded */
	size_t n_cert_files;
};

/* ---- 9.4 ---- */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int parse_u64_trimmed(const char *s, const char *end, uint64_t *out)
{
	while (s < end && is_space(*s))
		s++;
	while (end > s && is_space(end[-1]))
		end--;
	if (s == end)
		return -EINVAL;
	uint64_t v = 0;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int ready_stats_parse(const char *text, size_t len, const char *const *names, uint64_t *values,
		      size_t n, char *why, size_t why_len)
{
	bool found[8] = { false };
	if (n > ARRAY_SIZE(found))
		return -EINVAL;
	int r = 0;
	if (why && why_len)
		why[0] = '\0';
	for (size_t i = 0; i < n; i++)
		values[i] = 0;
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl + 1 : end; /* the line keeps its '\n', as Go's ReadString */
		for (size_t i = 0; i < n; i++) {
			size_t nlen = strlen(names[i]);
			if (found[i] || (size_t)(le - p) < nlen || memcmp(p, names[i], nlen) != 0)
				continue;
			found[i] = true;
			const char *c1 = memchr(p, ':', (size_t)(le - p));
			const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(le - c1 - 1)) : NULL;
			int lr = 0;
			if (!c1 || c2)
				lr = -EINVAL;
			else if (parse_u64_trimmed(c1 + 1, le, &values[i]) < 0)
				lr = -EINVAL;
			if (lr < 0 && r == 0) {
				r = lr;
				int ll = (int)(nl ? nl - p : le - p);
				if (ll > 200)
					ll = 200;
				if (why && why_len)
					snprintf(why, why_len, !c1 || c2
						 ? "envoy stat %s missing separator. line:%.*s"
						 : "failed parsing Envoy stat %s line: %.*s",
						 names[i], ll, p);
			}
		}
		p = le;
	}
	return r;
}

/* ---- Envoy (9.1) ---- */

static int admin_get(struct agent_ready *r, const char *target, int timeout_ms,
		     struct strbuf *body, char *why, size_t why_len)
{
	struct http_get_request rq = {
		.host = r->ipv6 ? "::1" : "127.0.0.1",
		.port = r->admin_port,
		.target = target,
		.deadline_ms = probe_now_ms() + timeout_ms,
		.max_body = READY_MAX_STATS,
		.max_redirects = 10,
	};
	struct http_get_response resp = { 0 };
	char w[256];
	int rc = http_get(&rq, &resp, w, sizeof(w));
	if (rc < 0) {
		snprintf(why, why_len, "Get \"http://%s%s%s:%u%s\": %s", r->ipv6 ? "[" : "", rq.host,
			 r->ipv6 ? "]" : "", r->admin_port, target, w);
		strbuf_free(&resp.body);
		return rc;
	}
	if (resp.status != 200) {
		snprintf(why, why_len, "unexpected status code: %d", resp.status);
		strbuf_free(&resp.body);
		return -EIO;
	}
	*body = resp.body;
	return 0;
}

static int check_config(struct agent_ready *r, char *why, size_t why_len)
{
	if (atomic_load(&r->config_received))
		return 0;
	struct strbuf body = STRBUF_INIT;
	int rc = admin_get(r, READY_CONFIG_TARGET, READY_CONFIG_TIMEOUT_MS, &body, why, why_len);
	if (rc < 0)
		return rc;
	static const char *const names[] = {
		"cluster_manager.cds.update_success", "cluster_manager.cds.update_rejected",
		"listener_manager.lds.update_success", "listener_manager.lds.update_rejected",
	};
	uint64_t v[4];
	rc = ready_stats_parse(strbuf_str(&body), body.len, names, v, 4, why, why_len);
	strbuf_free(&body);
	if (rc < 0)
		return rc;
	if (v[0] > 0 && v[2] > 0) {
		atomic_store(&r->config_received, true);
		return 0;
	}
	const char *what = v[0] == 0 && v[2] == 0 ? "config not received from XDS server (is Istiod running?)"
			   : v[1] > 0 || v[3] > 0 ? "config received from XDS server, but was rejected"
						  : "config not fully received from XDS server";
	snprintf(why, why_len,
		 "%s: cds updates: %llu successful, %llu rejected; lds updates: %llu successful, %llu rejected",
		 what, (unsigned long long)v[0], (unsigned long long)v[1], (unsigned long long)v[2],
		 (unsigned long long)v[3]);
	return -EAGAIN;
}

static const char *server_state_name(uint64_t s, char *buf, size_t cap)
{
	static const char *const names[] = { "LIVE", "DRAINING", "PRE_INITIALIZING", "INITIALIZING" };
	if (s < ARRAY_SIZE(names))
		return names[s];
	snprintf(buf, cap, "%llu", (unsigned long long)s);
	return buf;
}

static int check_live(struct agent_ready *r, char *why, size_t why_len)
{
	if (atomic_load(&r->envoy_live))
		return 0;
	struct strbuf body = STRBUF_INIT;
	char w[READY_WHY];
	int rc = admin_get(r, READY_LIVE_TARGET, READY_LIVE_TIMEOUT_MS, &body, w, sizeof(w));
	if (rc < 0) {
		snprintf(why, why_len, "failed to get readiness stats: %s", w);
		return rc;
	}
	const char *s = strbuf_str(&body);
	static const char *const names[] = { "server.state", "listener_manager.workers_started" };
	uint64_t v[2];
	if (!strstr(s, names[0]) || !strstr(s, names[1])) {
		snprintf(why, why_len, "failed to get readiness stats: %s is not yet updated: %.200s",
			 strstr(s, names[0]) ? names[1] : names[0], s);
		rc = -EAGAIN;
	} else if ((rc = ready_stats_parse(s, body.len, names, v, 2, w, sizeof(w))) < 0) {
		snprintf(why, why_len, "failed to get readiness stats: %s", w);
	} else if (v[0] != 0) {
		char nb[24];
		snprintf(why, why_len, "server is not live, current state is: %s",
			 server_state_name(v[0], nb, sizeof(nb)));
		rc = -EAGAIN;
	} else if (v[1] != 1) {
		snprintf(why, why_len, "workers have not yet started");
		rc = -EAGAIN;
	}
	strbuf_free(&body);
	if (rc < 0)
		return rc;
	/* Only the first success records the start-up duration. */
	bool was = atomic_exchange(&r->envoy_live, true);
	if (!was && r->metrics)
		agent_metrics_set_startup_duration(r->metrics, (double)(probe_now_ms() - r->start_ms) / 1000.0);
	return 0;
}

/* ---- gRPC bootstrap (9.2) ---- */

static int load_bootstrap(struct agent_ready *r, char *why, size_t why_len)
{
	struct skiff_err e = { 0 };
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	struct stat st;
	if (stat(r->bootstrap_path, &st) < 0) {
		snprintf(why, why_len, "failed to find bootstrap file: stat %s: %s", r->bootstrap_path,
			 strerror(errno));
		return -errno;
	}
	if (file_read_all(r->bootstrap_path, READY_MAX_BOOTSTRAP, "GRPC_XDS_BOOTSTRAP", &text, &len, &e) < 0) {
		snprintf(why, why_len, "failed parsing bootstrap file: %s", e.msg);
		return e.code;
	}
	json_error_t je;
	json_t *root = json_loadb(text, len, JSON_DECODE_ANY, &je);
	if (!root || !(json_is_object(root) || json_is_null(root))) {
		snprintf(why, why_len, "failed parsing bootstrap file: %s: %s", r->bootstrap_path,
			 root ? "not a JSON object" : je.text);
		json_decref(root);
		return -EINVAL;
	}
	/* The first file_watcher certificate provider names the files to watch. */
	char *files[3] = { NULL, NULL, NULL };
	size_t nfiles = 0;
	json_t *providers = json_object_get(root, "certificate_providers");
	if (providers && !json_is_object(providers) && !json_is_null(providers)) {
		snprintf(why, why_len, "failed parsing bootstrap file: %s: certificate_providers is not an object",
			 r->bootstrap_path);
		json_decref(root);
		return -EINVAL;
	}
	const char *key;
	json_t *prov;
	json_object_foreach(providers, key, prov) {
		json_t *pn = json_object_get(prov, "plugin_name");
		if (!json_is_string(pn) || strcmp(json_string_value(pn), "file_watcher") != 0)
			continue;
		json_t *cfg = json_object_get(prov, "config");
		static const char *const fields[] = { "certificate_file", "private_key_file",
						      "ca_certificate_file" };
		for (size_t i = 0; i < 3; i++) {
			json_t *f = json_object_get(cfg, fields[i]);
			files[nfiles++] = strdup(json_is_string(f) ? json_string_value(f) : "");
		}
		break;
	}
	json_decref(root);
	pthread_mutex_lock(&r->lock);
	if (!atomic_load(&r->bootstrap_loaded)) {
		for (size_t i = 0; i < nfiles; i++)
			r->cert_files[i] = files[i];
		r->n_cert_files = nfiles;
		atomic_store(&r->bootstrap_loaded, true);
	} else {
		for (size_t i = 0; i < nfiles; i++)
			free(files[i]);
	}
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static int check_bootstrap(struct agent_ready *r, char *why, size_t why_len)
{
	if (!r->bootstrap_path)
		return 0;
	if (!atomic_load(&r->bootstrap_loaded)) {
		int rc = load_bootstrap(r, why, why_len);
		if (rc < 0)
			return rc;
	}
	/* cert_files never change once bootstrap_loaded is set. */
	for (size_t i = 0; i < r->n_cert_files; i++) {
		struct stat st;
		const char *f = r->cert_files[i] ? r->cert_files[i] : "";
		if (stat(f, &st) < 0) {
			snprintf(why, why_len, "failed to find file %s: stat %s: %s", f, f, strerror(errno));
			return -ENOENT;
		}
	}
	return 0;
}

/* ---- the handler ---- */

static void env_bool(char *const *envp, const char *name, bool *v)
{
	const char *s = env_get(envp, name);
	if (s && parse_bool_go(s, v) < 0)
		log_warn("invalid value for %s: \"%s\" is not a boolean; using the default %s", name, s,
			 *v ? "true" : "false");
}

int agent_ready_new(char *const *envp, int admin_port, bool ipv6, struct agent_metrics *metrics,
		    struct agent_ready **out, struct skiff_err *e)
{
	*out = NULL;
	bool disable_envoy = false, dns = false;
	env_bool(envp, "DISABLE_ENVOY", &disable_envoy);
	env_bool(envp, "ISTIO_META_DNS_CAPTURE", &dns);
	if (!disable_envoy && (admin_port < 1 || admin_port > 65535))
		return err_set(e, SKIFF_EINVAL, "proxyAdminPort: %d is not a port (1-65535)", admin_port);
	struct agent_ready *r = calloc(1, sizeof(*r));
	if (!r)
		return err_set(e, SKIFF_ENOMEM, "out of memory");
	r->envoy = !disable_envoy;
	r->admin_port = (uint16_t)admin_port;
	r->ipv6 = ipv6;
	r->dns_capture = dns;
	r->metrics = metrics;
	r->start_ms = probe_now_ms();
	r->last_ok = false; /* so the very first success logs "Envoy proxy is ready" */
	const char *bp = env_get_nonempty(envp, "GRPC_XDS_BOOTSTRAP");
	if (bp && !(r->bootstrap_path = strdup(bp))) {
		free(r);
		return err_set(e, SKIFF_ENOMEM, "out of memory");
	}
	pthread_mutex_init(&r->lock, NULL);
	if (dns)
		log_info("ISTIO_META_DNS_CAPTURE=true: skiff has no DNS proxy; the DNS readiness check passes");
	if (!r->envoy)
		log_info("DISABLE_ENVOY=true: /healthz/ready does not check Envoy");
	*out = r;
	return 0;
}

void agent_ready_check(struct agent_ready *r, bool draining, struct agent_response *resp)
{
	char why[READY_WHY] = "";
	int rc = 0;
	if (r->envoy) {
		rc = check_config(r, why, sizeof(why));
		if (rc == 0 && draining) {
			snprintf(why, sizeof(why), "server is not live, current state is: DRAINING");
			rc = -EAGAIN;
		}
		if (rc == 0)
			rc = check_live(r, why, sizeof(why));
	}
	if (rc == 0)
		rc = check_bootstrap(r, why, sizeof(why));
	/* Agent DNS (ISTIO_META_DNS_CAPTURE): skiff has no DNS proxy, so there
	 * is no table to wait for; the check passes. */

	resp->status = rc == 0 ? 200 : 503;
	resp->content_type = NULL;
	strbuf_reset(&resp->body);

	pthread_mutex_lock(&r->lock);
	if (rc < 0) {
		log_warn("Envoy proxy is NOT ready: %s", why);
		r->last_ok = false;
	} else {
		if (!r->last_ok)
			log_info("Envoy proxy is ready");
		r->last_ok = true;
	}
	pthread_mutex_unlock(&r->lock);
}

void agent_ready_free(struct agent_ready *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(r->cert_files); i++)
		free(r->cert_files[i]);
	free(r->bootstrap_path);
	pthread_mutex_destroy(&r->lock);
	free(r);
}
