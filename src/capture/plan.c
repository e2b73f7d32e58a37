/* plan.c - the istio-iptables 1.13 rule generation algorithm (spec section
 * 4), producing a struct capture_plan. No I/O here. */
#include "capture/plan.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define V4 1u
#define V6 2u
#define BOTH (V4 | V6)

/* Hard-coded values of Istio 1.13. */
#define DNS_AGENT_PORT "15053"
#define OUTBOUND_MARK "1338"

static const char *const table_names[CAPTURE__NTABLES] = { "mangle", "nat", "raw" };

const char *capture_table_name(enum capture_table t)
{
	return table_names[t];
}

bool capture_chain_is_builtin(const char *c)
{
	return strcmp(c, "INPUT") == 0 || strcmp(c, "OUTPUT") == 0 || strcmp(c, "FORWARD") == 0 ||
	       strcmp(c, "PREROUTING") == 0 || strcmp(c, "POSTROUTING") == 0;
}

struct builder {
	struct capture_plan *plan;
	const struct capture_config *cfg;
};

static void rule_free(struct capture_rule *r)
{
	for (size_t i = 0; i < r->ntokens; i++)
		free(r->tokens[i]);
	free(r->tokens);
}

static int tokens_split(const char *text, char ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	for (const char *p = text; *p;) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		const char *q = strchr(p, ' ');
		size_t len = q ? (size_t)(q - p) : strlen(p);
		char **t = realloc(*out, (*n + 1) * sizeof(*t));
		if (!t)
			return -ENOMEM;
		*out = t;
		if (!(t[*n] = strndup(p, len)))
			return -ENOMEM;
		(*n)++;
		p += len;
	}
	return 0;
}

static void push_rule(struct builder *b, enum capture_family f, struct capture_rule *r)
{
	struct capture_family_plan *fp = &b->plan->fam[f];
	struct capture_rule *rs = realloc(fp->rules, (fp->nrules + 1) * sizeof(*rs));
	if (!rs) {
		rule_free(r);
		b->plan->failed = true;
		return;
	}
	fp->rules = rs;
	fp->rules[fp->nrules++] = *r;
}

/* Record one rule in the families of MASK; with TAG (trace logging on) also
 * its NFLOG companion: before an append, after an insert (spec 3.3). */
static void add_text(struct builder *b, unsigned mask, enum capture_table t, const char *chain,
		     int pos, const char *tag, const char *text)
{
	for (int f = 0; f < CAPTURE__NFAMILIES; f++) {
		if (!(mask & (1u << f)) || (f == CAPTURE_V6 && !b->plan->ipv6))
			continue;
		struct capture_rule r = { .table = t, .chain = chain, .insert_pos = pos };
		if (tokens_split(text, &r.tokens, &r.ntokens) < 0) {
			rule_free(&r);
			b->plan->failed = true;
			return;
		}
		struct capture_rule log = { .table = t, .chain = chain, .insert_pos = pos };
		bool with_log = tag && b->cfg->trace_logging;
		if (with_log) {
			char buf[1024];
			size_t n = 0;
			buf[0] = '\0';
			for (size_t i = 0; i < r.ntokens && strcmp(r.tokens[i], "-j") != 0; i++)
				n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s ", r.tokens[i]);
			snprintf(buf + n, sizeof(buf) - n,
				 "-j NFLOG --nflog-prefix \"%s\" --nflog-group 1337 --nflog-size 20", tag);
			if (tokens_split(buf, &log.tokens, &log.ntokens) < 0) {
				rule_free(&log);
				rule_free(&r);
				b->plan->failed = true;
				return;
			}
		}
		if (with_log && pos == 0)
			push_rule(b, (enum capture_family)f, &log);
		push_rule(b, (enum capture_family)f, &r);
		if (with_log && pos != 0)
			push_rule(b, (enum capture_family)f, &log);
	}
}

__attribute__((format(printf, 7, 8)))
static void add(struct builder *b, unsigned mask, enum capture_table t, const char *chain, int pos,
		const char *tag, const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(text)) {
		b->plan->failed = true;
		return;
	}
	add_text(b, mask, t, chain, pos, tag, text);
}

/* ver(A | B): the v4 copy with the first string, the v6 copy with the second. */
#define ADD_VER(b, t, chain, pos, tag, fmt, a4, a6)                                   \
	do {                                                                          \
		add(b, V4, t, chain, pos, tag, fmt, a4);                              \
		add(b, V6, t, chain, pos, tag, fmt, a6);                              \
	} while (0)

static void derive_chains(struct capture_plan *plan)
{
	for (int f = 0; f < CAPTURE__NFAMILIES; f++) {
		struct capture_family_plan *fp = &plan->fam[f];
		for (size_t i = 0; i < fp->nrules; i++) {
			const struct capture_rule *r = &fp->rules[i];
			if (capture_chain_is_builtin(r->chain))
				continue;
			bool seen = false;
			for (size_t j = 0; j < fp->nchains && !seen; j++)
				seen = fp->chains[j].table == r->table &&
				       strcmp(fp->chains[j].name, r->chain) == 0;
			if (seen)
				continue;
			struct capture_chain *c = realloc(fp->chains, (fp->nchains + 1) * sizeof(*c));
			if (!c) {
				plan->failed = true;
				return;
			}
			fp->chains = c;
			fp->chains[fp->nchains++] = (struct capture_chain){ r->table, r->chain };
		}
	}
}

static void cidr_str(const struct netaddr_cidr *c, char *buf)
{
	netaddr_cidr_format(c, buf, NETADDR_STR_MAX);
}

int capture_plan_build(const struct capture_config *cfg, struct capture_plan *plan)
{
	memset(plan, 0, sizeof(*plan));
	plan->ipv6 = cfg->ipv6;
	struct builder bb = { plan, cfg }, *b = &bb;
	const bool tp = cfg->tproxy;
	const bool dns = cfg->redirect_dns;
	const bool all = cfg->capture_all_dns;
	const bool loop = cfg->include.loop4 || cfg->include.loop6; /* Q5: either family */
	const struct capture_list *U = &cfg->uids, *G = &cfg->gids;
	const char *mark = cfg->mark;
	const enum capture_table M = CAPTURE_MANGLE, N = CAPTURE_NAT, R = CAPTURE_RAW;
	/* DNS servers: none when capturing all DNS (spec 2.5). */
	static const struct capture_list empty = { 0 };
	const struct capture_list *S4 = all ? &empty : &cfg->dns_v4;
	const struct capture_list *S6 = all ? &empty : &cfg->dns_v6;
	char net[NETADDR_STR_MAX];

	/* Step 1: excluded interfaces, nat first, then (TPROXY) mangle. */
	for (size_t i = 0; i < cfg->exclude_interfaces.n; i++) {
		const char *e = cfg->exclude_interfaces.items[i];
		add(b, BOTH, N, "PREROUTING", 0, "ExcludeInterfaceCommand", "-i %s -j RETURN", e);
		add(b, BOTH, N, "OUTPUT", 0, "ExcludeInterfaceCommand", "-o %s -j RETURN", e);
	}
	if (tp) {
		for (size_t i = 0; i < cfg->exclude_interfaces.n; i++) {
			const char *e = cfg->exclude_interfaces.items[i];
			add(b, BOTH, M, "PREROUTING", 0, "ExcludeInterfaceCommand", "-i %s -j RETURN", e);
			add(b, BOTH, M, "OUTPUT", 0, "ExcludeInterfaceCommand", "-o %s -j RETURN", e);
		}
	}
	/* Step 2: kube-virt interfaces short-circuit PREROUTING (inserts at 1). */
	for (size_t i = 0; i < cfg->kube_virt.n; i++)
		add(b, BOTH, N, "PREROUTING", 1, "KubevirtCommand", "-i %s -j RETURN",
		    cfg->kube_virt.items[i]);
	/* Step 3: drop conntrack-INVALID packets. */
	if (cfg->drop_invalid)
		add(b, BOTH, M, "PREROUTING", 0, NULL, "-m conntrack --ctstate INVALID -j DROP");
	/* Steps 4-6: tunnel port, redirect chains. */
	add(b, BOTH, N, "ISTIO_INBOUND", 0, NULL, "-p tcp --dport %s -j RETURN", cfg->inbound_tunnel_port);
	add(b, BOTH, N, "ISTIO_REDIRECT", 0, NULL, "-p tcp -j REDIRECT --to-ports %s", cfg->proxy_port);
	add(b, BOTH, N, "ISTIO_IN_REDIRECT", 0, "InboundCapture", "-p tcp -j REDIRECT --to-ports %s",
	    cfg->inbound_capture_port);

	/* Step 7: inbound capture. No rule special-cases port 22 (1.13). */
	if (cfg->inbound_enabled) {
		enum capture_table T = tp ? M : N;
		if (tp) {
			add(b, BOTH, M, "ISTIO_DIVERT", 0, NULL, "-j MARK --set-mark %s", mark);
			add(b, BOTH, M, "ISTIO_DIVERT", 0, NULL, "-j ACCEPT");
			add(b, V4, M, "ISTIO_TPROXY", 0, NULL,
			    "! -d 127.0.0.1/32 -p tcp -j TPROXY --tproxy-mark %s/0xffffffff --on-port %s",
			    mark, cfg->inbound_capture_port);
			add(b, V6, M, "ISTIO_TPROXY", 0, NULL,
			    "! -d ::1/128 -p tcp -j TPROXY --tproxy-mark %s/0xffffffff --on-port %s",
			    mark, cfg->inbound_capture_port);
		}
		add(b, BOTH, T, "PREROUTING", 0, "JumpInbound", "-p tcp -j ISTIO_INBOUND");
		if (cfg->inbound_wildcard) {
			for (size_t i = 0; i < cfg->local_exclude_ports.n; i++)
				add(b, BOTH, T, "ISTIO_INBOUND", 0, "ExcludeInboundPort",
				    "-p tcp --dport %s -j RETURN", cfg->local_exclude_ports.items[i]);
			if (tp) {
				add(b, BOTH, M, "ISTIO_INBOUND", 0, NULL,
				    "-p tcp -m conntrack --ctstate RELATED,ESTABLISHED -j ISTIO_DIVERT");
				add(b, BOTH, M, "ISTIO_INBOUND", 0, NULL, "-p tcp -j ISTIO_TPROXY");
			} else {
				add(b, BOTH, N, "ISTIO_INBOUND", 0, NULL, "-p tcp -j ISTIO_IN_REDIRECT");
			}
		} else {
			for (size_t i = 0; i < cfg->inbound_ports.n; i++) {
				const char *x = cfg->inbound_ports.items[i];
				if (tp) {
					add(b, BOTH, M, "ISTIO_INBOUND", 0, "IncludeInboundPort",
					    "-p tcp --dport %s -m conntrack --ctstate RELATED,ESTABLISHED -j ISTIO_DIVERT", x);
					add(b, BOTH, M, "ISTIO_INBOUND", 0, "IncludeInboundPort",
					    "-p tcp --dport %s -j ISTIO_TPROXY", x);
				} else {
					add(b, BOTH, N, "ISTIO_INBOUND", 0, "IncludeInboundPort",
					    "-p tcp --dport %s -j ISTIO_IN_REDIRECT", x);
				}
			}
		}
	}

	/* Steps 8-10: outbound jump, excluded ports, inbound passthrough source. */
	add(b, BOTH, N, "OUTPUT", 0, "JumpOutbound", "-p tcp -j ISTIO_OUTPUT");
	for (size_t i = 0; i < cfg->outbound_ports_exclude.n; i++)
		add(b, BOTH, N, "ISTIO_OUTPUT", 0, NULL, "-p tcp --dport %s -j RETURN",
		    cfg->outbound_ports_exclude.items[i]);
	ADD_VER(b, N, "ISTIO_OUTPUT", 0, NULL, "-o lo -s %s -j RETURN", "127.0.0.6/32", "::6/128");

	/* Steps 11-12: proxy uids and gids (Q2: the gid redirect has no DNS clause). */
	for (size_t i = 0; i < U->n; i++) {
		const char *u = U->items[i];
		if (dns) {
			add(b, V4, N, "ISTIO_OUTPUT", 0, NULL,
			    "-o lo ! -d 127.0.0.1/32 -p tcp ! --dport 53 -m owner --uid-owner %s -j ISTIO_IN_REDIRECT", u);
			add(b, V6, N, "ISTIO_OUTPUT", 0, NULL,
			    "-o lo ! -d ::1/128 -p tcp ! --dport 53 -m owner --uid-owner %s -j ISTIO_IN_REDIRECT", u);
		} else {
			add(b, V4, N, "ISTIO_OUTPUT", 0, NULL,
			    "-o lo ! -d 127.0.0.1/32 -m owner --uid-owner %s -j ISTIO_IN_REDIRECT", u);
			add(b, V6, N, "ISTIO_OUTPUT", 0, NULL,
			    "-o lo ! -d ::1/128 -m owner --uid-owner %s -j ISTIO_IN_REDIRECT", u);
		}
		if (!loop)
			add(b, BOTH, N, "ISTIO_OUTPUT", 0, NULL,
			    dns ? "-o lo -p tcp ! --dport 53 -m owner ! --uid-owner %s -j RETURN"
				: "-o lo -m owner ! --uid-owner %s -j RETURN", u);
		add(b, BOTH, N, "ISTIO_OUTPUT", 0, NULL, "-m owner --uid-owner %s -j RETURN", u);
	}
	for (size_t i = 0; i < G->n; i++) {
		const char *g = G->items[i];
		add(b, V4, N, "ISTIO_OUTPUT", 0, NULL,
		    "-o lo ! -d 127.0.0.1/32 -m owner --gid-owner %s -j ISTIO_IN_REDIRECT", g);
		add(b, V6, N, "ISTIO_OUTPUT", 0, NULL,
		    "-o lo ! -d ::1/128 -m owner --gid-owner %s -j ISTIO_IN_REDIRECT", g);
		if (!loop)
			add(b, BOTH, N, "ISTIO_OUTPUT", 0, NULL,
			    dns ? "-o lo -p tcp ! --dport 53 -m owner ! --gid-owner %s -j RETURN"
				: "-o lo -m owner ! --gid-owner %s -j RETURN", g);
		add(b, BOTH, N, "ISTIO_OUTPUT", 0, NULL, "-m owner --gid-owner %s -j RETURN", g);
	}

	/* Step 13: DNS over TCP. */
	if (dns) {
		if (all) {
			add(b, BOTH, N, "ISTIO_OUTPUT", 0, NULL,
			    "-p tcp --dport 53 -j REDIRECT --to-ports " DNS_AGENT_PORT);
		} else {
			for (size_t i = 0; i < S4->n; i++)
				add(b, V4, N, "ISTIO_OUTPUT", 0, NULL,
				    "-p tcp --dport 53 -d %s/32 -j REDIRECT --to-ports " DNS_AGENT_PORT,
				    S4->items[i]);
			for (size_t i = 0; i < S6->n; i++)
				add(b, V6, N, "ISTIO_OUTPUT", 0, NULL,
				    "-p tcp --dport 53 -d %s/128 -j REDIRECT --to-ports " DNS_AGENT_PORT,
				    S6->items[i]);
		}
	}
	/* Steps 14-16: localhost, excluded ranges, included ports. */
	ADD_VER(b, N, "ISTIO_OUTPUT", 0, NULL, "-d %s -j RETURN", "127.0.0.1/32", "::1/128");
	for (size_t i = 0; i < cfg->exclude.n4; i++) {
		cidr_str(&cfg->exclude.v4[i], net);
		add(b, V4, N, "ISTIO_OUTPUT", 0, NULL, "-d %s -j RETURN", net);
	}
	for (size_t i = 0; i < cfg->exclude.n6; i++) {
		cidr_str(&cfg->exclude.v6[i], net);
		add(b, V6, N, "ISTIO_OUTPUT", 0, NULL, "-d %s -j RETURN", net);
	}
	for (size_t i = 0; i < cfg->outbound_ports.n; i++)
		add(b, BOTH, N, "ISTIO_OUTPUT", 0, NULL, "-p tcp --dport %s -j ISTIO_REDIRECT",
		    cfg->outbound_ports.items[i]);

	/* Step 17: included ranges, v4 family then v6 family. */
	for (unsigned fam = V4; fam <= V6; fam <<= 1) {
		const struct netaddr_cidr *nets = fam == V4 ? cfg->include.v4 : cfg->include.v6;
		size_t nn = fam == V4 ? cfg->include.n4 : cfg->include.n6;
		if (cfg->include.wildcard) {
			add(b, fam, N, "ISTIO_OUTPUT", 0, NULL, "-j ISTIO_REDIRECT");
			for (size_t k = 0; k < cfg->kube_virt.n; k++)
				add(b, fam, N, "PREROUTING", 1, "KubevirtCommand", "-i %s -j ISTIO_REDIRECT",
				    cfg->kube_virt.items[k]);
		} else if (nn > 0) {
			for (size_t i = 0; i < nn; i++) {
				cidr_str(&nets[i], net);
				for (size_t k = 0; k < cfg->kube_virt.n; k++)
					add(b, fam, N, "PREROUTING", 1, "KubevirtCommand",
					    "-i %s -d %s -j ISTIO_REDIRECT", cfg->kube_virt.items[k], net);
				add(b, fam, N, "ISTIO_OUTPUT", 0, NULL, "-d %s -j ISTIO_REDIRECT", net);
			}
			add(b, fam, N, "ISTIO_OUTPUT", 0, NULL, "-j RETURN");
		}
	}

	/* Step 18: DNS over UDP and conntrack zones (Q3, Q4 reproduced). */
	if (dns) {
		for (size_t i = 0; i < U->n; i++)
			add(b, BOTH, N, "OUTPUT", 0, NULL, "-p udp --dport 53 -m owner --uid-owner %s -j RETURN",
			    U->items[i]);
		for (size_t i = 0; i < G->n; i++)
			add(b, BOTH, N, "OUTPUT", 0, NULL, "-p udp --dport 53 -m owner --gid-owner %s -j RETURN",
			    G->items[i]);
		if (all) {
			add(b, BOTH, N, "OUTPUT", 0, NULL, "-p udp --dport 53 -j REDIRECT --to-port " DNS_AGENT_PORT);
		} else {
			for (size_t i = 0; i < S4->n; i++)
				add(b, V4, N, "OUTPUT", 0, NULL,
				    "-p udp --dport 53 -d %s/32 -j REDIRECT --to-port " DNS_AGENT_PORT, S4->items[i]);
			for (size_t i = 0; i < S6->n; i++)
				add(b, V6, N, "OUTPUT", 0, NULL,
				    "-p udp --dport 53 -d %s/128 -j REDIRECT --to-port " DNS_AGENT_PORT, S6->items[i]);
		}
		for (size_t i = 0; i < U->n; i++) {
			add(b, BOTH, R, "OUTPUT", 0, NULL, "-p udp --dport 53 -m owner --uid-owner %s -j CT --zone 1",
			    U->items[i]);
			add(b, BOTH, R, "OUTPUT", 0, NULL,
			    "-p udp --sport " DNS_AGENT_PORT " -m owner --uid-owner %s -j CT --zone 2", U->items[i]);
		}
		for (size_t i = 0; i < G->n; i++) {
			add(b, BOTH, R, "OUTPUT", 0, NULL, "-p udp --dport 53 -m owner --gid-owner %s -j CT --zone 1",
			    G->items[i]);
			add(b, BOTH, R, "OUTPUT", 0, NULL,
			    "-p udp --sport " DNS_AGENT_PORT " -m owner --gid-owner %s -j CT --zone 2", G->items[i]);
		}
		if (all) {
			add(b, BOTH, R, "OUTPUT", 0, NULL, "-p udp --dport 53 -j CT --zone 2");
			add(b, BOTH, R, "PREROUTING", 0, NULL, "-p udp --sport 53 -j CT --zone 1");
		} else {
			for (size_t i = 0; i < S4->n; i++) {
				add(b, V4, R, "OUTPUT", 0, NULL, "-p udp --dport 53 -d %s/32 -j CT --zone 2", S4->items[i]);
				add(b, V4, R, "PREROUTING", 0, NULL, "-p udp --sport 53 -d %s/32 -j CT --zone 1",
				    S4->items[i]);
			}
			for (size_t i = 0; i < S6->n; i++) {
				add(b, V6, R, "OUTPUT", 0, NULL, "-p udp --dport 53 -d %s/128 -j CT --zone 2", S6->items[i]);
				add(b, V6, R, "PREROUTING", 0, NULL, "-p udp --sport 53 -d %s/128 -j CT --zone 1",
				    S6->items[i]);
			}
		}
	}

	/* Step 19: TPROXY trailer, even with an empty -b (Q7). */
	if (tp) {
		add(b, BOTH, M, "PREROUTING", 0, NULL, "-p tcp -m mark --mark %s -j CONNMARK --save-mark", mark);
		add(b, BOTH, M, "OUTPUT", 0, NULL, "-p tcp -o lo -m mark --mark %s -j RETURN", mark);
		for (size_t i = 0; i < U->n; i++) {
			add(b, V4, M, "OUTPUT", 0, NULL,
			    "! -d 127.0.0.1/32 -p tcp -o lo -m owner --uid-owner %s -j MARK --set-mark " OUTBOUND_MARK,
			    U->items[i]);
			add(b, V6, M, "OUTPUT", 0, NULL,
			    "! -d ::1/128 -p tcp -o lo -m owner --uid-owner %s -j MARK --set-mark " OUTBOUND_MARK,
			    U->items[i]);
		}
		for (size_t i = 0; i < G->n; i++) {
			add(b, V4, M, "OUTPUT", 0, NULL,
			    "! -d 127.0.0.1/32 -p tcp -o lo -m owner --gid-owner %s -j MARK --set-mark " OUTBOUND_MARK,
			    G->items[i]);
			add(b, V6, M, "OUTPUT", 0, NULL,
			    "! -d ::1/128 -p tcp -o lo -m owner --gid-owner %s -j MARK --set-mark " OUTBOUND_MARK,
			    G->items[i]);
		}
		add(b, BOTH, M, "OUTPUT", 0, NULL, "-p tcp -m connmark --mark %s -j CONNMARK --restore-mark", mark);
		add(b, BOTH, M, "ISTIO_INBOUND", 1, NULL, "-p tcp -m mark --mark %s -j RETURN", mark);
		add(b, V4, M, "ISTIO_INBOUND", 2, NULL, "-p tcp -s 127.0.0.6/32 -i lo -j RETURN");
		add(b, V6, M, "ISTIO_INBOUND", 2, NULL, "-p tcp -s ::6/128 -i lo -j RETURN");
		add(b, BOTH, M, "ISTIO_INBOUND", 3, NULL, "-p tcp -i lo -m mark ! --mark " OUTBOUND_MARK " -j RETURN");
	}

	derive_chains(plan);
	return plan->failed ? -ENOMEM : 0;
}

void capture_plan_free(struct capture_plan *plan)
{
	if (!plan)
		return;
	for (int f = 0; f < CAPTURE__NFAMILIES; f++) {
		struct capture_family_plan *fp = &plan->fam[f];
		for (size_t i = 0; i < fp->nrules; i++)
			rule_free(&fp->rules[i]);
		free(fp->rules);
		free(fp->chains);
		fp->rules = NULL;
		fp->chains = NULL;
		fp->nrules = fp->nchains = 0;
	}
}
