#!/bin/sh
# make-cert.sh [NAMESPACE] [SERVICE] [DIR] - a CA and a serving certificate
# for the webhook Service, and the Secret holding them.
#
#   ./make-cert.sh istio-system skiff-webhook ./certs
#   kubectl -n istio-system create secret tls skiff-webhook-certs \
#       --cert=certs/tls.crt --key=certs/tls.key
#   sed "s|CA_BUNDLE|$(base64 -w0 certs/ca.crt)|" mutatingwebhookconfiguration.yaml | kubectl apply -f -
#
# The API server checks the certificate against the caBundle of the
# MutatingWebhookConfiguration and the name SERVICE.NAMESPACE.svc. To rotate,
# run this again with the same CA (or update caBundle first) and replace the
# Secret: the kubelet updates the mounted files and skiff picks up the new
# pair at the next TLS handshake, without a restart.
set -eu
ns=${1:-istio-system}
svc=${2:-skiff-webhook}
dir=${3:-certs}
mkdir -p "$dir"
cd "$dir"
if [ ! -f ca.key ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout ca.key -out ca.crt -days 3650 -subj "/CN=skiff-webhook-ca" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign"
fi
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout tls.key -out tls.csr -subj "/CN=$svc.$ns.svc"
printf 'subjectAltName=DNS:%s,DNS:%s.%s,DNS:%s.%s.svc,DNS:%s.%s.svc.cluster.local\nextendedKeyUsage=serverAuth\n' \
	"$svc" "$svc" "$ns" "$svc" "$ns" "$svc" "$ns" > tls.ext
openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 \
	-extfile tls.ext -out tls.crt
rm -f tls.csr tls.ext
echo "wrote $dir/ca.crt $dir/tls.crt $dir/tls.key" >&2
