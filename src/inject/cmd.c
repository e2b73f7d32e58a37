/* cmd.c - `skiff inject`: istioctl kube-inject for manifests on disk. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "commands.h"
#include "inject/inject_internal.h"
#include "kube/manifest.h"

#define INJECT_MAX_INPUT (512u << 20)

static const char usage[] =
	"Usage: skiff inject -f FILE|- [-o FILE] [options]\n"
	"\n"
	"Inject the Istio 1.13 sidecar (istio-init and istio-proxy) into every pod\n"
	"template of a Kubernetes manifest, as `istioctl kube-inject` does. YAML or\n"
	"JSON, one or many documents, Lists. Other documents pass through unchanged.\n"
	"\n"
	"  -f, --filename FILE        input manifest (- = standard input)\n"
	"  -o, --output FILE          output file (default standard output); written\n"
	"                             atomically: all or nothing\n"
	"      --meshConfigFile FILE  mesh config (MeshConfig YAML, or the istio ConfigMap)\n"
	"      --valuesFile FILE      injector Helm values (YAML/JSON, or the\n"
	"                             istio-sidecar-injector ConfigMap)\n"
	"      --injectConfigFile FILE  injector config; only `policy` is read\n"
	"      --revision REV         control plane revision (CA_ADDR, status annotation)\n"
	"      --status-port PORT     status port (mesh defaultConfig.statusPort and\n"
	"                             values global.proxy.statusPort; default 15020)\n"
	"      --proxy-image IMAGE    whole proxy image reference (default\n"
	"                             <hub>/proxyv2:<tag>)\n"
	"      --hub HUB, --tag TAG   image hub and tag (gcr.io/istio-testing, latest)\n"
	"      --interception-mode M  REDIRECT, TPROXY or NONE (default REDIRECT)\n"
	"      --include-ip-ranges L, --exclude-ip-ranges L\n"
	"      --include-inbound-ports L, --exclude-inbound-ports L\n"
	"      --include-outbound-ports L, --exclude-outbound-ports L\n"
	"                             capture defaults (global.proxy.*; annotations win)\n"
	"      --rewrite-app-probers BOOL  sidecarInjectorWebhook.rewriteAppHTTPProbe\n"
	"                             (default true)\n"
	"  -h, --help                 this help\n"
	"\n"
	"Environment (istiod's): REWRITE_TCP_PROBES, PILOT_ENABLE_INBOUND_PASSTHROUGH,\n"
	"ENABLE_LEGACY_FSGROUP_INJECTION.\n"
	"Exit status: 0 on success, 1 on bad input or output errors (no output file\n"
	"is written then). See docs/inject.md.\n";

static const char *const setters[] = {
	"revision", "status-port", "proxy-image", "hub", "tag", "interception-mode",
	"include-ip-ranges", "exclude-ip-ranges", "include-inbound-ports",
	"exclude-inbound-ports", "include-outbound-ports", "exclude-outbound-ports",
	"rewrite-app-probers", NULL,
};

struct opts {
	const char *in, *out, *mesh, *values, *inject_cfg;
	const char *set_name[32];
	const char *set_val[32];
	size_t n_set;
};

static int parse_args(int argc, char **argv, struct opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage, stdout);
			return 1;
		}
		const char *name = NULL, *val = NULL;
		char namebuf[64];
		if (a[0] == '-' && a[1] == '-' && a[2]) {
			const char *eq = strchr(a + 2, '=');
			size_t nl = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
			if (nl >= sizeof(namebuf))
				goto unknown;
			memcpy(namebuf, a + 2, nl);
			namebuf[nl] = '\0';
			name = namebuf;
			val = eq ? eq + 1 : NULL;
		} else if (a[0] == '-' && (a[1] == 'f' || a[1] == 'o')) {
			namebuf[0] = a[1];
			namebuf[1] = '\0';
			name = namebuf;
			val = a[2] ? (a[2] == '=' ? a + 3 : a + 2) : NULL;
		} else {
			fprintf(stderr, "skiff inject: unexpected argument \"%s\" (see --help)\n", a);
			return -1;
		}
		if (!val) {
			if (i + 1 >= argc) {
				fprintf(stderr, "skiff inject: %s needs a value\n", a);
				return -1;
			}
			val = argv[++i];
		}
		if (!strcmp(name, "f") || !strcmp(name, "filename"))
			o->in = val;
		else if (!strcmp(name, "o") || !strcmp(name, "output"))
			o->out = val;
		else if (!strcmp(name, "meshConfigFile"))
			o->mesh = val;
		else if (!strcmp(name, "valuesFile"))
			o->values = val;
		else if (!strcmp(name, "injectConfigFile"))
			o->inject_cfg = val;
		else {
			bool known = false;
			for (size_t k = 0; setters[k]; k++)
				if (!strcmp(name, setters[k]))
					known = true;
			if (!known || o->n_set >= 32)
				goto unknown;
			for (size_t k = 0; setters[k]; k++)
				if (!strcmp(name, setters[k]))
					o->set_name[o->n_set] = setters[k];
			o->set_val[o->n_set++] = val;
		}
		continue;
unknown:
		fprintf(stderr, "skiff inject: unknown option \"%s\" (see --help)\n", a);
		return -1;
	}
	if (!o->in) {
		fprintf(stderr, "skiff inject: -f FILE (or -f - for standard input) is required\n");
		return -1;
	}
	return 0;
}

/* The output side: a buffer, flushed to FD (when >= 0) in large chunks. */
struct out_stream {
	struct strbuf *buf;
	int fd;
	const char *path;
};

#define FLUSH_AT (1u << 20)

static int flush_out(struct out_stream *o, struct skiff_err *e)
{
	if (o->fd < 0 || o->buf->len == 0)
		return 0;
	const char *p = o->buf->buf;
	size_t n = o->buf->len;
	while (n > 0) {
		ssize_t w = write(o->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return err_set(e, -errno, "-o: cannot write %s: %s", o->path, strerror(errno));
		p += w;
		n -= (size_t)w;
	}
	strbuf_reset(o->buf);
	return 0;
}

struct run {
	const struct inject_config *cfg;
	const char *shown;
	struct out_stream *out;
	struct strbuf *warnings;
	struct skiff_err *e;
};

static int one_doc(struct manifest_doc *d, void *ctx)
{
	struct run *run = ctx;
	struct strbuf *out = run->out->buf;
	if (!d->root || json_is_null(d->root))
		return 0; /* empty documents are dropped, as kube-inject does */
	char where[512];
	snprintf(where, sizeof(where), "%s: document %zu (line %d):", run->shown, d->index, d->line);
	int r = inject_document(run->cfg, d->root, where, run->warnings, run->e);
	if (r < 0)
		return r;
	if (r == 0 && d->src) {
		/* blank lines before the next "---" belong to the separator,
		 * unless a keep-chomped block scalar could end the document */
		size_t n = d->src_len;
		if (!memmem(d->src, n, "|+", 2) && !memmem(d->src, n, ">+", 2))
			while (n > 1 && d->src[n - 1] == '\n' && d->src[n - 2] == '\n')
				n--;
		strbuf_append(out, d->src, n);
		if (n == 0 || d->src[n - 1] != '\n')
			strbuf_putc(out, '\n');
	} else {
		manifest_emit_yaml(d->root, out);
	}
	strbuf_puts(out, "---\n");
	if (strbuf_failed(out))
		return err_set(run->e, SKIFF_ENOMEM, "out of memory building the output");
	if (out->len >= FLUSH_AT)
		return flush_out(run->out, run->e);
	return 0;
}

static int inject_stream(const struct inject_config *cfg, const char *name, const char *text,
			 size_t len, struct out_stream *o, struct strbuf *warnings,
			 struct skiff_err *e)
{
	struct run run = {
		.cfg = cfg,
		.shown = (!name || !strcmp(name, "-")) ? "<stdin>" : name,
		.out = o,
		.warnings = warnings,
		.e = e,
	};
	int r = manifest_parse_each(name, text, len, one_doc, &run, e);
	if (r == 0)
		r = flush_out(o, e);
	return r;
}

int inject_manifest(const struct inject_config *cfg, const char *name, const char *text,
		    size_t len, struct strbuf *out, struct strbuf *warnings, struct skiff_err *e)
{
	struct out_stream o = { .buf = out, .fd = -1 };
	return inject_stream(cfg, name, text, len, &o, warnings, e);
}

/* -o FILE: stream into a temporary file next to FILE, then rename it over
 * FILE; on any error the temporary file is removed and FILE is untouched.
 * Standard output is buffered whole, so an error leaves it empty too. */
static int inject_to(const struct inject_config *cfg, const char *in, const char *text,
		     size_t len, const char *path, struct strbuf *warnings, struct skiff_err *e)
{
	struct strbuf buf = STRBUF_INIT;
	int r;
	if (!strcmp(path, "-")) {
		r = inject_manifest(cfg, in, text, len, &buf, warnings, e);
		if (r == 0)
			r = file_write_atomic("-", buf.buf ? buf.buf : "", buf.len, "-o", e);
		strbuf_free(&buf);
		return r;
	}
	struct strbuf tmp = STRBUF_INIT;
	strbuf_printf(&tmp, "%s.skiff-XXXXXX", path);
	if (strbuf_failed(&tmp))
		return err_set(e, SKIFF_ENOMEM, "out of memory");
	int fd = mkostemp(tmp.buf, O_CLOEXEC);
	if (fd < 0) {
		r = err_set(e, -errno, "-o: cannot create %s: %s", path, strerror(errno));
		strbuf_free(&tmp);
		return r;
	}
	struct out_stream o = { .buf = &buf, .fd = fd, .path = path };
	r = inject_stream(cfg, in, text, len, &o, warnings, e);
	if (r == 0 && fsync(fd) < 0)
		r = err_set(e, -errno, "-o: cannot write %s: %s", path, strerror(errno));
	if (r == 0)
		(void)fchmod(fd, 0644);
	if (close(fd) < 0 && r == 0)
		r = err_set(e, -errno, "-o: cannot write %s: %s", path, strerror(errno));
	if (r == 0 && rename(tmp.buf, path) < 0)
		r = err_set(e, -errno, "-o: cannot write %s: %s", path, strerror(errno));
	if (r < 0)
		unlink(tmp.buf);
	strbuf_free(&tmp);
	strbuf_free(&buf);
	return r;
}

int cmd_inject(int argc, char **argv, char **envp)
{
	struct opts o = { 0 };
	int pr = parse_args(argc, argv, &o);
	if (pr != 0)
		return pr > 0 ? 0 : 1;
	struct skiff_err e = { 0 };
	struct inject_config *cfg = NULL;
	struct strbuf warnings = STRBUF_INIT;
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r = inject_config_new(o.mesh, o.values, envp, &cfg, &e);
	if (r == 0 && o.inject_cfg)
		r = inject_config_load_inject_config(cfg, o.inject_cfg, &warnings, &e);
	for (size_t i = 0; r == 0 && i < o.n_set; i++)
		r = inject_config_set(cfg, o.set_name[i], o.set_val[i], &e);
	if (r == 0)
		r = file_read_all(o.in, INJECT_MAX_INPUT, "-f", &text, &len, &e);
	if (r == 0)
		r = inject_to(cfg, o.in, text, len, o.out ? o.out : "-", &warnings, &e);
	if (warnings.len) {
		const char *s = strbuf_str(&warnings);
		while (*s) {
			const char *nl = strchr(s, '\n');
			size_t n = nl ? (size_t)(nl - s) : strlen(s);
			fprintf(stderr, "skiff inject: warning: %.*s\n", (int)n, s);
			s += n + (nl ? 1 : 0);
		}
	}
	if (r < 0)
		fprintf(stderr, "skiff inject: %s\n", e.msg[0] ? e.msg : "failed");
	strbuf_free(&warnings);
	inject_config_free(cfg);
	return r < 0 ? 1 : 0;
}
