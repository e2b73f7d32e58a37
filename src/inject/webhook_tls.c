/* webhook_tls.c - serving certificate with reload on change (see webhook_tls.h).
 *
 * The PEM text of the pair in service is kept; every handshake parses its own
 * copy from it, which GnuTLS frees with the session. Nothing a session uses
 * is ever shared with another session, so replacing the pair needs no
 * reference counting: only the short copy step holds the mutex. */
#include "inject/webhook_tls.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/log.h"

#define TLS_FILE_MAX (1024 * 1024)
#define TLS_CHAIN_MAX 16

/* What identifies one version of a file on disk. */
struct file_id {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
	bool present;
};

struct webhook_tls {
	char *cert_path, *key_path;
	pthread_mutex_t lock;
	char *cert_pem, *key_pem;     /* the pair in service */
	size_t cert_len, key_len;
	struct file_id cert_id, key_id;       /* of the pair in service */
	struct file_id bad_cert_id, bad_key_id; /* last pair found unusable */
	unsigned generation;
};

static struct file_id file_id_of(const char *path)
{
	struct stat st;
	struct file_id id = { 0 };
	if (stat(path, &st) == 0) {
		id.dev = st.st_dev;
		id.ino = st.st_ino;
		id.size = st.st_size;
		id.mtime = st.st_mtim;
		id.ctime = st.st_ctim;
		id.present = true;
	}
	return id;
}

static bool file_id_eq(const struct file_id *a, const struct file_id *b)
{
	return a->present == b->present && a->dev == b->dev && a->ino == b->ino &&
	       a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec && a->ctime.tv_sec == b->ctime.tv_sec &&
	       a->ctime.tv_nsec == b->ctime.tv_nsec;
}

static void pcerts_deinit(gnutls_pcert_st *certs, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		gnutls_pcert_deinit(&certs[i]);
}

static int parse_pair(const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len,
		      gnutls_pcert_st *certs, unsigned *ncerts, gnutls_privkey_t *key,
		      const char *cert_path, const char *key_path, struct skiff_err *e)
{
	gnutls_datum_t cd = { (unsigned char *)cert_pem, (unsigned)cert_len };
	gnutls_datum_t kd = { (unsigned char *)key_pem, (unsigned)key_len };
	unsigned n = TLS_CHAIN_MAX;
	int r = gnutls_pcert_list_import_x509_raw(certs, &n, &cd, GNUTLS_X509_FMT_PEM, 0);
	if (r < 0 || n == 0)
		return err_set(e, SKIFF_EINVAL, "--tls-cert %s: no PEM certificate could be read: %s",
			       cert_path, r < 0 ? gnutls_strerror(r) : "empty");
	r = gnutls_privkey_init(key);
	if (r >= 0)
		r = gnutls_privkey_import_x509_raw(*key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (r < 0) {
		gnutls_privkey_deinit(*key);
		*key = NULL;
		pcerts_deinit(certs, n);
		return err_set(e, SKIFF_EINVAL, "--tls-key %s: no PEM private key could be read: %s",
			       key_path, gnutls_strerror(r));
	}
	*ncerts = n;
	return 0;
}

/* The key must belong to the first certificate: compare public keys. */
static int check_match(gnutls_pcert_st *cert, gnutls_privkey_t key, const char *cert_path,
		       const char *key_path, struct skiff_err *e)
{
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t a = { 0 }, b = { 0 };
	int r = gnutls_pubkey_init(&pub);
	if (r >= 0)
		r = gnutls_pubkey_import_privkey(pub, key, 0, 0);
	if (r >= 0)
		r = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &a);
	if (r >= 0)
		r = gnutls_pubkey_export2(cert->pubkey, GNUTLS_X509_FMT_DER, &b);
	bool same = r >= 0 && a.size == b.size && memcmp(a.data, b.data, a.size) == 0;
	gnutls_free(a.data);
	gnutls_free(b.data);
	gnutls_pubkey_deinit(pub);
	if (!same)
		return err_set(e, SKIFF_EINVAL, "--tls-key %s does not belong to the certificate in --tls-cert %s",
			       key_path, cert_path);
	return 0;
}

/* Read and check the pair now on disk; on success hand out the PEM texts. */
static int load_pair(const char *cert_path, const char *key_path, char **cert_pem, size_t *cert_len,
		     char **key_pem, size_t *key_len, struct skiff_err *e)
{
	_cleanup_free_ char *c = NULL, *k = NULL;
	size_t cl, kl;
	int r = file_read_all(cert_path, TLS_FILE_MAX, "--tls-cert", &c, &cl, e);
	if (r < 0)
		return r;
	r = file_read_all(key_path, TLS_FILE_MAX, "--tls-key", &k, &kl, e);
	if (r < 0)
		return r;
	gnutls_pcert_st certs[TLS_CHAIN_MAX];
	unsigned n = 0;
	gnutls_privkey_t key = NULL;
	r = parse_pair(c, cl, k, kl, certs, &n, &key, cert_path, key_path, e);
	if (r < 0)
		return r;
	r = check_match(&certs[0], key, cert_path, key_path, e);
	pcerts_deinit(certs, n);
	gnutls_privkey_deinit(key);
	if (r < 0)
		return r;
	*cert_pem = TAKE_PTR(c);
	*key_pem = TAKE_PTR(k);
	*cert_len = cl;
	*key_len = kl;
	return 0;
}

int webhook_tls_new(const char *cert_path, const char *key_path, struct webhook_tls **out,
		    struct skiff_err *e)
{
	int r = webhook_dl_load(e);
	if (r < 0)
		return r;
	struct webhook_tls *t = calloc(1, sizeof(*t));
	if (!t)
		return err_set(e, SKIFF_ENOMEM, "out of memory");
	pthread_mutex_init(&t->lock, NULL);
	t->cert_path = strdup(cert_path);
	t->key_path = strdup(key_path);
	if (!t->cert_path || !t->key_path) {
		webhook_tls_free(t);
		return err_set(e, SKIFF_ENOMEM, "out of memory");
	}
	t->cert_id = file_id_of(cert_path);
	t->key_id = file_id_of(key_path);
	r = load_pair(cert_path, key_path, &t->cert_pem, &t->cert_len, &t->key_pem, &t->key_len, e);
	if (r < 0) {
		webhook_tls_free(t);
		return r;
	}
	*out = t;
	return 0;
}

void webhook_tls_free(struct webhook_tls *t)
{
	if (!t)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t->cert_path);
	free(t->key_path);
	free(t->cert_pem);
	free(t->key_pem);
	free(t);
}

int webhook_tls_refresh(struct webhook_tls *t, struct skiff_err *e)
{
	struct file_id cid = file_id_of(t->cert_path);
	struct file_id kid = file_id_of(t->key_path);
	pthread_mutex_lock(&t->lock);
	bool same = file_id_eq(&cid, &t->cert_id) && file_id_eq(&kid, &t->key_id);
	bool known_bad = file_id_eq(&cid, &t->bad_cert_id) && file_id_eq(&kid, &t->bad_key_id);
	pthread_mutex_unlock(&t->lock);
	if (same || known_bad)
		return 0;

	/* Read outside the lock; handshakes meanwhile use the old pair. */
	char *c = NULL, *k = NULL;
	size_t cl = 0, kl = 0;
	int r = load_pair(t->cert_path, t->key_path, &c, &cl, &k, &kl, e);
	/* The files may have changed again while being read: identify the
	 * version by what was stat()ed before reading, so a later change is
	 * seen by the next handshake. */
	pthread_mutex_lock(&t->lock);
	if (r < 0) {
		t->bad_cert_id = cid;
		t->bad_key_id = kid;
	} else {
		free(t->cert_pem);
		free(t->key_pem);
		t->cert_pem = c;
		t->key_pem = k;
		t->cert_len = cl;
		t->key_len = kl;
		t->cert_id = cid;
		t->key_id = kid;
		t->generation++;
	}
	pthread_mutex_unlock(&t->lock);
	return r < 0 ? r : 1;
}

int webhook_tls_issue(struct webhook_tls *t, gnutls_pcert_st **certs, unsigned int *ncerts,
		      gnutls_privkey_t *key)
{
	gnutls_pcert_st *list = gnutls_malloc(TLS_CHAIN_MAX * sizeof(*list));
	if (!list)
		return -ENOMEM;
	unsigned n = 0;
	gnutls_privkey_t k = NULL;
	pthread_mutex_lock(&t->lock);
	int r = parse_pair(t->cert_pem, t->cert_len, t->key_pem, t->key_len, list, &n, &k,
			   t->cert_path, t->key_path, NULL);
	pthread_mutex_unlock(&t->lock);
	if (r < 0) {
		gnutls_free(list);
		return r;
	}
	*certs = list;
	*ncerts = n;
	*key = k;
	return 0;
}

unsigned webhook_tls_generation(struct webhook_tls *t)
{
	pthread_mutex_lock(&t->lock);
	unsigned g = t->generation;
	pthread_mutex_unlock(&t->lock);
	return g;
}
