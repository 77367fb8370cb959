#!/usr/bin/env bash
# Installs the checkers CI needs (pinned versions) into a cache outside the clone, so the
# next run on the same machine skips the slow build. Safe to run on a fresh machine.
set -euo pipefail

TOOLS_ROOT="${TOKEN_LEASE_TOOLS:-${HOME}/.cache/token-lease-tools}"
CARGO_DENY_VERSION=0.20.2
CARGO_AUDIT_VERSION=0.22.2
export PATH="${TOOLS_ROOT}/bin:${PATH}"

install_crate() {
  local name=$1 version=$2 binary=$3
  if "${TOOLS_ROOT}/bin/${binary}" --version 2>/dev/null | grep -q " ${version}$\| ${version} "; then
    return
  fi
  echo "installing ${name} ${version} into ${TOOLS_ROOT}"
  cargo install --locked --quiet --root "${TOOLS_ROOT}" --version "${version}" "${name}"
}

install_crate cargo-deny "${CARGO_DENY_VERSION}" cargo-deny
install_crate cargo-audit "${CARGO_AUDIT_VERSION}" cargo-audit
