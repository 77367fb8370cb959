#!/usr/bin/env bash
# Regenerates the test-only keys beside this script (needs the openssl CLI).
set -euo pipefail
cd "$(dirname "$0")"
openssl genrsa -traditional -out app-key.pkcs1.pem 2048
openssl pkcs8 -topk8 -nocrypt -in app-key.pkcs1.pem -out app-key.pkcs8.pem
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out wrong-key.pkcs8.pem
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out oidc-issuer-key.pkcs8.pem
